"""The demo company: a believable bilingual service center with six months of history (`kefu demo`)."""

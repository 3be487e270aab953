"""Tables the caller-region lookup reads (kefu.telephony.regions): public numbering facts, shipped as package data."""

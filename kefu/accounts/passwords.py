"""The password policy's own check (settings AUTH_PASSWORD_VALIDATORS): not one of the 30,000 passwords seen most
often in leaks, and not quickly guessable. Both come from zxcvbn (PyPI, MIT licence), offline: its ranked list of
leaked passwords (Xato's corpus of 10 million) and its guess estimate (keyboard rows, repeats, sequences, dates,
dictionary words with common substitutions). Nothing is looked up over the network."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

MIN_GUESSES_LOG10 = 8.0  # ~10^8 guesses: zxcvbn's score 3, "safely unguessable" for a throttled online attack
MAX_CHECKED_LENGTH = 100  # zxcvbn's time grows with length; a longer password is not guessable anyway


def _leaked() -> frozenset[str]:
    global _LEAKED
    if _LEAKED is None:
        from zxcvbn.frequency_lists import FREQUENCY_LISTS

        _LEAKED = frozenset(FREQUENCY_LISTS["passwords"])
    return _LEAKED


_LEAKED: frozenset[str] | None = None


class GuessablePasswordValidator:
    """Refuse a password on zxcvbn's list of leaked passwords, or one it estimates under 10^8 guesses."""

    def __init__(self, min_guesses_log10: float = MIN_GUESSES_LOG10) -> None:
        self.min_guesses_log10 = min_guesses_log10

    def validate(self, password: str, user: Any = None) -> None:
        if password.lower() in _leaked():
            raise ValidationError(_("这个密码出现在已泄露的常用密码中，请换一个"), code="password_leaked")
        if len(password) > MAX_CHECKED_LENGTH:
            return
        from zxcvbn import zxcvbn

        names = [str(getattr(user, f, "") or "") for f in ("username", "display_name", "email", "employee_no")]
        estimate = zxcvbn(password, user_inputs=[n for n in names if n])
        if float(estimate["guesses_log10"]) < self.min_guesses_log10:
            raise ValidationError(
                _("这个密码太容易被猜到（如键盘连续键、重复字符、日期或常见单词加数字），请用几个不相关的词组成的短语"),
                code="password_guessable")

    def get_help_text(self) -> str:
        return _("不能是常见或已泄露的密码，也不能太容易被猜到")

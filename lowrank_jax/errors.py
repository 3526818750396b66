"""The one-line error of a bad config field, shared by the config layer and the evaluators' own checks."""


class ConfigError(ValueError):
  """A config field has a bad value; str(e) is one line naming the field."""


def check(ok: bool, msg: str) -> None:
  """Raises ConfigError(msg) unless ok."""
  if not ok:
    raise ConfigError(msg)

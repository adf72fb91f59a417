"""The exceptions sla-worker raises, each saying what the operator should do.

Core module: imports nothing but the standard library.
"""

__all__ = [
    "DurationError",
    "PolicyError",
    "SettingsError",
    "SlaWorkerError",
    "StartupError",
]


class SlaWorkerError(Exception):
    """Root of every sla-worker error; its message is one line meant for an operator."""


class DurationError(SlaWorkerError, ValueError):
    """A duration such as ``1h30m`` could not be read: fix the text it quotes."""


class PolicyError(SlaWorkerError):
    """The policy file is invalid: fix every problem listed, each with its place in the file.

    ``problems`` holds ``(place, message)`` pairs such as
    ``("tiers.enterprise.targets.first_response.P9", "unknown priority 'P9'")``.
    """

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = list(problems)
        count = len(self.problems)
        head = f"{source}: invalid policy ({count} problem{'s' if count != 1 else ''})"
        super().__init__(
            "\n".join([head, *(f"  {place}: {message}" for place, message in self.problems)])
        )


class SettingsError(SlaWorkerError):
    """A setting (environment variable or flag) is invalid: correct the one named."""


class StartupError(SlaWorkerError):
    """The worker cannot start (broker, topics, data directory): fix what the message names."""

"""Exceptions with messages meant for people: each names the file or the setting and the problem."""


class SemhmError(Exception):
    """Base class of semhm's errors."""


class ImageError(SemhmError, ValueError):
    """An input image or mask cannot be used (unreadable, corrupt, too large, wrong size)."""


class WeightsError(SemhmError):
    """Weights are missing, incomplete, tampered with, or cannot be fetched."""


class RuntimeSetupError(SemhmError):
    """onnxruntime is missing, doubled, or the requested execution provider does not work."""

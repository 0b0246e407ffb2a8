"""semhm: semantic human matting (Liu et al., CVPR 2020) on onnxruntime."""

__version__ = "0.1.0"  # the one place: pyproject reads it, export writes it into each manifest

from semhm_models.api import Matte, Matter, remove  # noqa: E402 - after __version__, which weights reads
from semhm_models.errors import ImageError, RuntimeSetupError, SemhmError, WeightsError  # noqa: E402

__all__ = ["Matter", "Matte", "remove", "SemhmError", "ImageError", "WeightsError", "RuntimeSetupError", "__version__"]

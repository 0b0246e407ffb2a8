"""semhm: semantic human matting (Liu et al., CVPR 2020) on onnxruntime."""

from semhm_models.api import Matte, Matter
from semhm_models.errors import ImageError, RuntimeSetupError, SemhmError, WeightsError

__version__ = "0.1.0"
__all__ = ["Matter", "Matte", "SemhmError", "ImageError", "WeightsError", "RuntimeSetupError", "__version__"]

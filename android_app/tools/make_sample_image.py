"""Write the bundled sample image for the app: scikit-image's 'chelsea' photograph as a binary PPM
(exact pixels, no decoder needed) into app/src/main/assets/images/. The file is not committed
(android_app/.gitignore); run this before building the APK if you want the bundled image:

    python android_app/tools/make_sample_image.py
"""

from pathlib import Path

import numpy as np
import skimage.data

out = Path(__file__).resolve().parents[1] / "app" / "src" / "main" / "assets" / "images" / "chelsea.ppm"
out.parent.mkdir(parents=True, exist_ok=True)
img = np.ascontiguousarray(skimage.data.chelsea(), dtype=np.uint8)
h, w, _ = img.shape
out.write_bytes(f"P6\n{w} {h}\n255\n".encode() + img.tobytes())
print(out)

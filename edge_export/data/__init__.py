"""The user's own images: folders of image files (calibration) and ImageFolder layouts (evaluation)."""

from edge_export.data.files import IMAGE_SUFFIXES, FileSet, image_files, read_image
from edge_export.data.imagefolder import ImageFolder, LabelMatch, match_classes, read_image_folder

__all__ = ["IMAGE_SUFFIXES", "FileSet", "image_files", "read_image", "ImageFolder", "LabelMatch", "match_classes",
           "read_image_folder"]

"""Mobile deployment bundles: ORT-format model, operator config, manifest, usability report; and their check."""

from edgelstm.bundle.build import BundleResult, build_bundle
from edgelstm.bundle.manifest import BundleManifest, read_manifest
from edgelstm.bundle.unpack import safe_extract
from edgelstm.bundle.verify import VerifyResult, verify_bundle
from edgelstm.errors import BundleError

__all__ = [
    "BundleError",
    "BundleManifest",
    "BundleResult",
    "VerifyResult",
    "build_bundle",
    "read_manifest",
    "safe_extract",
    "verify_bundle",
]

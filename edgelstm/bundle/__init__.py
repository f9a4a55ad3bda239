"""Mobile deployment bundles: ORT-format model, operator config, manifest, usability report; and their check."""

from edgelstm.bundle.build import BundleResult, build_bundle
from edgelstm.bundle.verify import BundleError, VerifyResult, safe_extract, verify_bundle

__all__ = ["BundleError", "BundleResult", "VerifyResult", "build_bundle", "safe_extract", "verify_bundle"]

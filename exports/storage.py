"""Where export files and their manifests are kept: Django's ``exports`` storage (the local disk
under MEDIA_ROOT by default, S3 or an S3-compatible store with ``EXPORT_STORAGE_URL``; see
config/settings/base.py ``export_storage``)."""

from __future__ import annotations

from django.conf import settings
from django.core.files.storage import Storage, default_storage, storages


def export_storage() -> Storage:
    if "exports" in settings.STORAGES:
        return storages["exports"]
    return default_storage


def signed_url(name: str, *, filename: str, content_type: str) -> str | None:
    """A pre-signed URL that serves the stored file as an attachment and expires (object
    storage); None when the storage serves no such URL (the local disk: the app streams it)."""
    storage = export_storage()
    if not hasattr(storage, "bucket_name"):
        return None
    return storage.url(
        name,
        parameters={
            "ResponseContentDisposition": f'attachment; filename="{filename}"',
            "ResponseContentType": content_type,
        },
    )

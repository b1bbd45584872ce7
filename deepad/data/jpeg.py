"""JPEG facts about data sets, read from their files: the quality a copy was stored at (from
its quantisation tables, matched against Pillow's for qualities 1..100) and whether an OE pool
already carries the nominal copy's codec."""

from __future__ import annotations


def quality_of(src) -> int | None:
    """The Pillow quality whose tables the first image of a folder or archive source was saved with."""
    import io

    from PIL import Image
    try:
        paths = src._files()[0]
        with Image.open(src._open(paths[0])) as im:
            if im.format != "JPEG":
                return None
            tables, mode = im.quantization, ("L" if im.mode == "L" else "RGB")
    except Exception:  # noqa: BLE001 - not a readable folder: no quality to report
        return None
    probe = Image.new(mode, (16, 16))
    for q in range(1, 101):
        buf = io.BytesIO()
        probe.save(buf, format="JPEG", quality=q)
        if Image.open(buf).quantization == tables:
            return q
    return None

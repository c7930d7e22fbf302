import io

import pytest
from PIL import Image

from guichet.accounts.photos import MAX_PHOTO_BYTES, PhotoError, clean_photo


def jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (1600, 1200), (200, 100, 50))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {1: "N", 2: (43.0, 36.0, 0.0)}  # GPS
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def test_metadata_is_stripped_and_size_reduced():
    original = jpeg_with_gps()
    assert b"PhoneMaker" in original
    cleaned = clean_photo(original)
    assert b"PhoneMaker" not in cleaned and b"Exif" not in cleaned
    with Image.open(io.BytesIO(cleaned)) as image:
        assert image.format == "JPEG" and max(image.size) <= 800
        assert not image.getexif()


def test_png_is_accepted():
    out = io.BytesIO()
    Image.new("RGBA", (50, 50)).save(out, "PNG")
    assert clean_photo(out.getvalue()).startswith(b"\xff\xd8\xff")


@pytest.mark.parametrize(
    "data",
    [
        b"MZ\x90\x00" + b"\x00" * 100,  # a Windows executable renamed photo.jpg
        b"%PDF-1.7\n",  # a PDF
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        b"\xff\xd8\xff" + b"not really a jpeg" * 10,  # a JPEG header followed by junk
    ],
)
def test_what_is_not_a_jpeg_or_png_is_refused(data):
    with pytest.raises(PhotoError):
        clean_photo(data)


def test_oversize_is_refused_before_decoding():
    with pytest.raises(PhotoError, match="5 Mo"):
        clean_photo(b"\xff\xd8\xff" + b"\x00" * MAX_PHOTO_BYTES)


def test_decompression_bomb_is_refused():
    out = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(out, "PNG")  # 100 Mpx in a few kilobytes
    assert len(out.getvalue()) < 200_000
    with pytest.raises(PhotoError, match="trop grande"):
        clean_photo(out.getvalue())

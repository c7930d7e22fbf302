"""A logo missing from the file store (a restore without the files, a bucket emptied by hand)
costs the logo, never the invoice PDF or a page."""

from types import SimpleNamespace

from guichet.billing.pdf import tenant_logo
from guichet.files import LocalFileStore


def test_a_missing_logo_leaves_the_pdf_without_a_logo(tmp_path, caplog):
    files = LocalFileStore(tmp_path)
    tenant = SimpleNamespace(
        slug="ccas-castres",
        logo_file="tenants/ccas-castres/logo-x.svg",
        logo_media_type="image/svg+xml",
    )
    assert tenant_logo(files, tenant) == ""
    assert "logo of ccas-castres missing" in caplog.text
    files.put(tenant.logo_file, b"<svg xmlns='http://www.w3.org/2000/svg'/>")
    assert tenant_logo(files, tenant).startswith("data:image/svg+xml;base64,")

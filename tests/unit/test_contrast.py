import pytest

from guichet.tenancy.catalog import check_branding
from guichet.tenancy.contrast import InvalidColour, contrast_ratio


def test_known_ratios():
    assert contrast_ratio("#000000", "#ffffff") == 21.0
    assert contrast_ratio("#ffffff", "#ffffff") == 1.0
    # WebAIM's reference: #767676 on white is 4.54:1, the lightest grey passing AA.
    assert contrast_ratio("#767676", "#ffffff") == 4.54
    assert contrast_ratio("#777777", "#ffffff") < 4.5


def test_short_form_equals_long_form():
    assert contrast_ratio("#fff", "#000") == contrast_ratio("#ffffff", "#000000")


@pytest.mark.parametrize("bad", ["red", "#12345", "#gggggg", "", "123456"])
def test_invalid_colours(bad):
    with pytest.raises(InvalidColour):
        contrast_ratio(bad, "#ffffff")


def test_branding_pair_under_aa_is_refused_with_a_clear_message():
    problems = check_branding(
        {"primary": "#00607a", "on_primary": "#ffffff", "accent": "#ff9900", "on_accent": "#ffffff"}
    )
    assert len(problems) == 1
    field, reason = problems[0]
    assert field == "branding.on_accent"
    assert "4.5:1" in reason and "#ff9900" in reason


def test_light_primary_is_refused_because_links_use_it():
    problems = check_branding(
        {"primary": "#aad4ff", "on_primary": "#000000", "accent": "#a63f00", "on_accent": "#ffffff"}
    )
    assert [f for f, _ in problems] == ["branding.primary"]


def test_demo_brandings_pass():
    assert (
        check_branding(
            {
                "primary": "#00607a",
                "on_primary": "#ffffff",
                "accent": "#b34700",
                "on_accent": "#ffffff",
            }
        )
        == []
    )

import pytest

from guichet.accounts.passwords import check_password, hash_password, policy_text, verify_password
from guichet.tenancy.snapshot import PasswordPolicy

GUIDE = PasswordPolicy()  # at least 8 characters with 1 lowercase and 1 digit


def test_policy_is_spelled_out_as_the_guide_does():
    assert policy_text(GUIDE) == (
        "Le mot de passe doit contenir au minimum 8 caractère(s) dont au moins : "
        "1 minuscule(s), 1 chiffre(s)"
    )


def test_stricter_policy_text():
    text = policy_text(PasswordPolicy(min_length=10, min_uppercase=1, min_special=1))
    assert "10 caractère(s)" in text and "1 majuscule(s)" in text
    assert "1 caractère(s) spécial(aux)" in text


@pytest.mark.parametrize(
    "password",
    ["court1", "SANSMINUSCULE1", "sanschiffre", "12345678"],
)
def test_policy_violations(password):
    assert check_password(password, GUIDE)


@pytest.mark.parametrize("password", ["tarn2castres81x", "vélo-rouge-7"])
def test_acceptable(password):
    assert check_password(password, GUIDE) == []


@pytest.mark.parametrize("password", ["motdepasse1", "azerty123", "password1", "soleil12"])
def test_common_passwords_are_refused(password):
    problems = check_password(password, GUIDE)
    assert any("trop courant" in p for p in problems), problems


def test_personal_words_are_refused():
    problems = check_password("alquier2024x", GUIDE, ["calquier", "Alquier", "Cécile"])
    assert any("votre nom" in p for p in problems)


def test_argon2id_hash_and_verify():
    hashed = hash_password("tarn2castres81x")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "tarn2castres81x")
    assert not verify_password(hashed, "tarn2castres81y")
    assert not verify_password(None, "anything")  # unknown account: same work, always false
    assert not verify_password("not a hash", "x")

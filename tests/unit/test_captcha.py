import io
import wave

import pytest
from litestar.stores.memory import MemoryStore

from guichet.accounts import captcha as captcha_module
from guichet.accounts.captcha import Captcha, CaptchaService, icons

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture
def service():
    return CaptchaService(MemoryStore())


async def test_a_question_names_one_of_six_shuffled_icons(service):
    challenge = await service.new("t1", "s1")
    assert len(challenge.order) == 6 and len(set(challenge.order)) == 6
    question = challenge.question("fr")
    assert question.startswith("Cliquez sur ")
    target = next(i for i in icons() if i["name"] == challenge.order[challenge.target])
    assert question == f"Cliquez sur {target['fr']}"
    assert challenge.question("en").startswith("Click ")


async def test_right_answer_is_single_use(service):
    challenge = await service.new("t1", "s1")
    ok = await service.verify("t1", "s1", challenge.id, str(challenge.target), "")
    assert ok == Captcha.OK
    replay = await service.verify("t1", "s1", challenge.id, str(challenge.target), "")
    assert replay == Captcha.EXPIRED


async def test_audio_answer(service):
    challenge = await service.new("t1", "s1")
    assert await service.verify("t1", "s1", challenge.id, "", challenge.digits) == Captcha.OK


async def test_three_failures_invalidate(service):
    challenge = await service.new("t1", "s1")
    wrong = str((challenge.target + 1) % 6)
    assert await service.verify("t1", "s1", challenge.id, wrong, "") == Captcha.WRONG
    assert await service.verify("t1", "s1", challenge.id, wrong, "0000x") == Captcha.WRONG
    assert await service.verify("t1", "s1", challenge.id, wrong, "") == Captcha.EXPIRED
    # even the right answer is refused now
    assert (
        await service.verify("t1", "s1", challenge.id, str(challenge.target), "") == Captcha.EXPIRED
    )


async def test_expiry_after_five_minutes(service, monkeypatch):
    challenge = await service.new("t1", "s1")
    real = captcha_module.time.time
    monkeypatch.setattr(captcha_module.time, "time", lambda: real() + 301)
    assert (
        await service.verify("t1", "s1", challenge.id, str(challenge.target), "") == Captcha.EXPIRED
    )


async def test_other_tenant_or_session_cannot_use_it(service):
    challenge = await service.new("tenant-a", "s1")
    answer = str(challenge.target)
    assert await service.verify("tenant-b", "s1", challenge.id, answer, "") == Captcha.EXPIRED
    assert await service.verify("tenant-a", "s2", challenge.id, answer, "") == Captcha.EXPIRED
    assert await service.image("tenant-b", "s1", challenge.id, 0) is None
    assert await service.verify("tenant-a", "s1", "forged", answer, "") == Captcha.EXPIRED
    assert await service.verify("tenant-a", "s1", challenge.id, answer, "") == Captcha.OK


async def test_images_and_audio_are_served_for_the_current_challenge_only(service):
    challenge = await service.new("t1", "s1")
    svg = await service.image("t1", "s1", challenge.id, 0)
    assert svg.startswith(b"<svg") and b"<script" not in svg
    assert await service.image("t1", "s1", challenge.id, 6) is None
    audio = await service.audio("t1", "s1", challenge.id, "fr")
    with wave.open(io.BytesIO(audio)) as clip:
        assert clip.getnframes() / clip.getframerate() > 2.5  # four digits and pauses


async def test_test_mode_is_deterministic():
    service = CaptchaService(MemoryStore(), test_mode=True)
    for _ in range(5):
        challenge = await service.new("t", "s")
        assert challenge.target == 0 and challenge.digits == "1234"


async def test_random_mode_varies():
    service = CaptchaService(MemoryStore())
    targets = {(await service.new("t", f"s{i}")).target for i in range(40)}
    assert len(targets) > 1


async def test_images_and_audio_never_repeat_their_bytes():
    from guichet.accounts.captcha import disguise_svg, icon_svg, spoken_digits

    svgs = {disguise_svg(icon_svg("truck")) for _ in range(20)}
    assert len(svgs) == 20 and all(s.startswith(b"<svg") and b"<script" not in s for s in svgs)
    assert icon_svg("truck") not in svgs
    assert spoken_digits("1234", "fr") != spoken_digits("1234", "fr")

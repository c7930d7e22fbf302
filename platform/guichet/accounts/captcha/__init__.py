"""The security check of the wizard (CONTRÔLE DE SÉCURITÉ): "Cliquez sur le camion".

Six icons in random order, a question naming one of them, and an audio alternative (four spoken
digits to type). The state lives in the shared store, namespaced by tenant and session; it is
single-use, expires after 5 minutes and is dropped after 3 wrong answers. The test mode (always
the first image, audio code 1234) exists for automated tests and is refused in production.
"""

from __future__ import annotations

import io
import json
import re
import secrets
import struct
import time
import wave
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from litestar.stores.base import Store

__all__ = ["CHOICES", "Captcha", "CaptchaService", "Challenge"]

ASSETS = Path(__file__).parent
CHOICES = 6
DIGITS = 4
TTL_SECONDS = 300
MAX_FAILURES = 3
TEST_AUDIO_CODE = "1234"


@cache
def icons() -> list[dict[str, str]]:
    return json.loads((ASSETS / "icons.json").read_text("utf-8"))


@cache
def icon_svg(name: str) -> bytes:
    item = next(i for i in icons() if i["name"] == name)
    return (ASSETS / "icons" / item["file"]).read_bytes()


@dataclass
class Challenge:
    id: str
    order: list[str]  # icon names in display order
    target: int  # index of the icon to click
    digits: str
    failures: int = 0

    def question(self, locale: str) -> str:
        item = next(i for i in icons() if i["name"] == self.order[self.target])
        name = item.get(locale) or item["fr"]
        if locale == "en":
            return f"Click {name}"
        return f"Cliquez sur {name}"


class Captcha:
    """Verification outcome."""

    OK = "ok"
    WRONG = "wrong"
    EXPIRED = "expired"


class CaptchaService:
    def __init__(self, store: Store, *, test_mode: bool = False) -> None:
        self.store = store
        self.test_mode = test_mode

    @staticmethod
    def _key(tenant_id: str, session_id: str) -> str:
        return f"{tenant_id}:{session_id}"

    async def new(self, tenant_id: str, session_id: str) -> Challenge:
        names = [i["name"] for i in icons()]
        order = secrets.SystemRandom().sample(names, CHOICES)
        target = 0 if self.test_mode else secrets.randbelow(CHOICES)
        digits = (
            TEST_AUDIO_CODE
            if self.test_mode
            else "".join(str(secrets.randbelow(10)) for _ in range(DIGITS))
        )
        challenge = Challenge(secrets.token_urlsafe(16), order, target, digits)
        await self._save(tenant_id, session_id, challenge)
        return challenge

    async def _save(self, tenant_id: str, session_id: str, challenge: Challenge) -> None:
        payload = {
            "id": challenge.id,
            "order": challenge.order,
            "target": challenge.target,
            "digits": challenge.digits,
            "failures": challenge.failures,
            "created": time.time(),
        }
        await self.store.set(
            self._key(tenant_id, session_id), json.dumps(payload), expires_in=TTL_SECONDS
        )

    async def current(self, tenant_id: str, session_id: str) -> Challenge | None:
        raw = await self.store.get(self._key(tenant_id, session_id))
        if raw is None:
            return None
        data = json.loads(raw)
        if time.time() - data["created"] > TTL_SECONDS:
            return None
        return Challenge(
            data["id"], data["order"], data["target"], data["digits"], data["failures"]
        )

    async def current_or_new(self, tenant_id: str, session_id: str) -> Challenge:
        return await self.current(tenant_id, session_id) or await self.new(tenant_id, session_id)

    async def verify(
        self, tenant_id: str, session_id: str, challenge_id: str, choice: str, audio: str
    ) -> str:
        """Check an answer; a right answer consumes the challenge, three wrong ones drop it."""
        challenge = await self.current(tenant_id, session_id)
        if challenge is None or not secrets.compare_digest(challenge.id, challenge_id or ""):
            return Captcha.EXPIRED
        typed = "".join(c for c in audio if c.isdigit())
        right = (choice.isdigit() and int(choice) == challenge.target) or (
            bool(typed) and secrets.compare_digest(typed, challenge.digits)
        )
        if right:
            await self.store.delete(self._key(tenant_id, session_id))
            return Captcha.OK
        challenge.failures += 1
        if challenge.failures >= MAX_FAILURES:
            await self.store.delete(self._key(tenant_id, session_id))
            return Captcha.EXPIRED
        await self._save(tenant_id, session_id, challenge)
        return Captcha.WRONG

    async def image(
        self, tenant_id: str, session_id: str, challenge_id: str, index: int
    ) -> bytes | None:
        challenge = await self.current(tenant_id, session_id)
        if challenge is None or challenge.id != challenge_id or not 0 <= index < CHOICES:
            return None
        # drawn anew at every request: the icon's own file would be recognised by its bytes
        return disguise_svg(icon_svg(challenge.order[index]))

    async def audio(
        self, tenant_id: str, session_id: str, challenge_id: str, locale: str
    ) -> bytes | None:
        challenge = await self.current(tenant_id, session_id)
        if challenge is None or challenge.id != challenge_id:
            return None
        return spoken_digits(challenge.digits, locale if locale in ("fr", "en") else "fr")


_DARK = ("#1d1d1b", "#0b3d91", "#5b2a86", "#1b5e20", "#7a1f00", "#004d40", "#3e2723")
_SVG = re.compile(rb"^<svg[^>]*>(.*)</svg>\s*$", re.DOTALL)


def disguise_svg(svg: bytes) -> bytes:
    """The icon drawn a little differently each time (angle, size, offset, colour, line width,
    decoys): the bytes never repeat, so an icon cannot be recognised from a stored fingerprint."""
    match = _SVG.match(svg.strip())
    inner = match.group(1) if match else svg
    rnd = secrets.SystemRandom()
    angle = rnd.uniform(-25, 25)
    scale = rnd.uniform(0.8, 1.0)
    dx, dy = rnd.uniform(-1.5, 1.5), rnd.uniform(-1.5, 1.5)
    decoys = "".join(
        f'<circle cx="{rnd.uniform(0, 24):.2f}" cy="{rnd.uniform(0, 24):.2f}" '
        f'r="{rnd.uniform(0.2, 0.6):.2f}" fill="currentColor" stroke="none" '
        f'opacity="{rnd.uniform(0.15, 0.35):.2f}"/>'
        for _ in range(rnd.randint(3, 9))
    )
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 24 24" '
        f'fill="none" stroke="currentColor" stroke-width="{rnd.uniform(1.5, 2.3):.2f}" '
        f'stroke-linecap="round" stroke-linejoin="round" color="{rnd.choice(_DARK)}">'
        f'<g transform="translate({dx:.2f} {dy:.2f}) rotate({angle:.1f} 12 12) '
        f'translate({12 - 12 * scale:.2f} {12 - 12 * scale:.2f}) scale({scale:.3f})">'
    )
    return head.encode() + inner + b"</g>" + decoys.encode() + b"</svg>"


def spoken_digits(digits: str, locale: str) -> bytes:
    """One WAV of the digits, with pauses, loudness and a faint noise that change every time
    (the same code never gives the same bytes)."""
    rnd = secrets.SystemRandom()
    output = io.BytesIO()
    params: Any = None
    samples: list[int] = []
    for digit in digits:
        with wave.open(str(ASSETS / "audio" / locale / f"{digit}.wav"), "rb") as clip:
            if params is None:
                params = clip.getparams()
                samples += [0] * int(params.framerate * rnd.uniform(0.2, 0.5))
            raw = clip.readframes(clip.getnframes())
        gain = rnd.uniform(0.7, 1.0)
        samples += [int(v * gain) for v in struct.unpack(f"<{len(raw) // 2}h", raw)]
        samples += [0] * int(params.framerate * rnd.uniform(0.45, 0.9))
    noisy = [max(-32768, min(32767, v + rnd.randint(-60, 60))) for v in samples]
    with wave.open(output, "wb") as out:
        out.setparams(params)
        out.writeframes(struct.pack(f"<{len(noisy)}h", *noisy))
    return output.getvalue()

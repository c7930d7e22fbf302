"""WeasyPrint renders with the garbage collector off and collects once afterwards (a fifth of a
billing run's time went to collections, bench/README.md): the collector always comes back, also
after a failure and when renders overlap in threads, and the rendering's garbage goes at once."""

import gc
import threading
import weakref

import pytest

from guichet.billing import pdf

BATCH = """<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>t</title></head><body>
<section id="inv-a" style="page-break-after: always"><p>Facture A</p></section>
<section id="inv-b"><p>Facture B</p></section></body></html>"""


def test_a_batch_renders_with_the_collector_off_and_turns_it_back_on(monkeypatch):
    seen = []
    real = pdf._split_batch

    def watched(*args):
        seen.append(gc.isenabled())
        return real(*args)

    monkeypatch.setattr(pdf, "_split_batch", watched)
    result = pdf.split_batch(BATCH, ["a", "b"], {"a", "b"})
    assert seen == [False] and gc.isenabled()
    assert set(result) == {"a", "b", "*"} and all(v.startswith(b"%PDF-") for v in result.values())
    assert pdf.invoice_pdf(BATCH).startswith(b"%PDF-") and gc.isenabled()


def test_the_collector_comes_back_after_a_failed_render():
    with pytest.raises(RuntimeError, match="not found"):
        pdf.split_batch(BATCH, ["a", "b", "missing"])
    assert gc.isenabled()


def test_overlapping_renders_keep_it_off_until_the_last_ends():
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    states = {}

    def first():
        with pdf._collected_once():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second():
        first_in.wait(5)
        with pdf._collected_once():
            second_in.set()
            first_out.wait(5)
            states["after the first ended"] = gc.isenabled()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert states == {"after the first ended": False} and gc.isenabled()


def test_the_garbage_made_while_rendering_is_collected_at_the_end():
    class Node:
        pass

    with pdf._collected_once():
        node = Node()
        node.itself = node  # a cycle: only the collector frees it
        alive = weakref.ref(node)
        del node
        assert alive() is not None  # the collector is off
    assert alive() is None


def test_while_renders_overlap_older_garbage_is_collected_too():
    """A web process whose renders never pause: cycles that outlived a collection (in the
    older generations) are freed too, not only the youngest generation's."""

    class Node:
        pass

    with pdf._collected_once():  # a render that lasts while the others come and go
        node = Node()
        node.itself = node
        alive = weakref.ref(node)
        for _ in range(pdf._MIDDLE_EVERY + 1):  # survives collections: now in an older generation
            with pdf._collected_once():
                pass
        assert not gc.isenabled()
        del node
        for _ in range(pdf._FULL_EVERY):
            with pdf._collected_once():
                pass
        assert alive() is None
    assert gc.isenabled()

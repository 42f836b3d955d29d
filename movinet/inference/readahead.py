"""Work ahead of the consumer in a background thread: decoding overlaps with the model.

PyAV, Pillow and the model runtimes release the GIL, so a generator of decoded frames (`stream`)
or of loaded clips (`predict`) run in this thread costs about max(produce, consume) per item
instead of their sum.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

Item = TypeVar("Item")

_END = object()


def read_ahead(frames: Iterable[Item], depth: int = 8) -> Iterator[Item]:
    """Iterate `frames` in a background thread, up to `depth` items ahead of the consumer.

    Decoding (PyAV releases the GIL) then overlaps with the model step, so a file streams at
    about max(decode, step) per frame instead of their sum. Errors of the source are raised in
    the consumer at the point they occurred; stopping early stops the thread.
    """
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in frames:
                while not stop.is_set():
                    try:
                        items.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put((_END, None))
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, re-raised there
            items.put((_END, error))
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="movinet-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, error = items.get()
            if item is _END:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                items.get(timeout=0.1)  # unblock a producer waiting to put
            except queue.Empty:
                pass

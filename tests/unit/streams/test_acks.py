"""Stores wait for their message's deliveries and for the store before them."""

from __future__ import annotations

import asyncio

import pytest

from ctxi.streams.acks import StoresInOrder


async def test_stores_happen_in_decision_order_whatever_order_the_broker_answers_in() -> None:
    loop = asyncio.get_running_loop()
    first_sent, second_sent = loop.create_future(), loop.create_future()
    stored: list[str] = []
    stores = StoresInOrder()
    first = stores.after([first_sent], lambda: stored.append("first"))
    second = stores.after([second_sent], lambda: stored.append("second"))
    second_sent.set_result(None)  # the second message's outputs are on the broker first
    await asyncio.sleep(0.01)
    assert stored == []  # its store waits for the first one
    first_sent.set_result(None)
    await asyncio.gather(first, second)
    assert stored == ["first", "second"]


async def test_a_failed_delivery_stores_nothing_after_it() -> None:
    loop = asyncio.get_running_loop()
    failed, sent = loop.create_future(), loop.create_future()
    stored: list[str] = []
    stores = StoresInOrder()
    first = stores.after([failed], lambda: stored.append("first"))
    second = stores.after([sent], lambda: stored.append("second"))
    failed.set_exception(ConnectionError("broker gone"))
    sent.set_result(None)
    for store in (first, second):
        with pytest.raises(ConnectionError):
            await store
    assert stored == []

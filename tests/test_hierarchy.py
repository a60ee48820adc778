"""The actor tree: spawn, names, paths, lookup, children, refs, stop order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from conftest import Drive, Driver
from zactor import Actor, ActorRef, NameTakenError


@dataclass(frozen=True)
class Open:
    """Spawn a child with this name (or a generated one for None)."""

    name: str | None


@dataclass(frozen=True)
class Children:
    """Ask for context.children."""


@dataclass(frozen=True)
class Child:
    """Ask for context.child(name)."""

    name: str


class Cart(Actor):
    """Answers with what its context says about it."""

    def receive(self, message: Any) -> Any:
        context = self.context
        return (context.path, context.self, context.parent)


class Shop(Actor):
    """Spawns carts as children on request."""

    def receive(self, message: Any) -> Any:
        if isinstance(message, Open):
            return self.context.spawn(Cart, name=message.name)
        if isinstance(message, Children):
            return self.context.children
        if isinstance(message, Child):
            return self.context.child(message.name)
        return None


class Node(Actor):
    """A tree node that records its stop in a shared list."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = stops

    def receive(self, message: Open) -> ActorRef:
        assert message.name is not None
        return self.context.spawn(Node, self.stops, name=message.name)

    def on_stop(self) -> None:
        self.stops.append(self.context.path)


class Founder(Actor):
    """Spawns its children in on_start."""

    def on_start(self) -> None:
        self.first = self.context.spawn(Cart, name="first")
        self.second = self.context.spawn(Cart, name="second")

    def receive(self, message: Any) -> Any:
        return self.context.children


async def build_tree(d: Driver, stops: list[str]) -> ActorRef:
    """Spawn /user/root with children a and b, and a's child a1."""
    root = d.spawn(Node, stops, name="root")
    a = await d.ask(root, Open("a"))
    await d.ask(root, Open("b"))
    await d.ask(a, Open("a1"))
    return root


def test_child_paths_name_the_whole_branch(drive: Drive) -> None:
    """A cart spawned by the shop lives at /user/shop/cart-42, its parent the shop."""

    async def scenario(d: Driver) -> None:
        shop = d.spawn(Shop, name="shop")

        cart = await d.ask(shop, Open("cart-42"))
        path, self_ref, parent = await d.ask(cart, "who are you")

        assert shop.path == "/user/shop"
        assert cart.path == "/user/shop/cart-42"
        assert cart.name == "cart-42"
        assert path == "/user/shop/cart-42"
        assert self_ref == cart
        assert parent == shop

    drive(scenario)


def test_lookup_finds_live_actors_and_none_for_missing_paths(drive: Drive) -> None:
    """lookup returns a ref equal to the spawned one, or None."""

    async def scenario(d: Driver) -> None:
        shop = d.spawn(Shop, name="shop")
        cart = await d.ask(shop, Open("cart-42"))

        found_shop = d.system.lookup("/user/shop")
        found_cart = d.system.lookup("/user/shop/cart-42")

        assert found_shop == shop
        assert found_cart == cart
        assert d.system.lookup("/user/shop/cart-43") is None
        assert d.system.lookup("/user/nowhere/cart-42") is None
        assert d.system.lookup("/user/shop/cart-42/deeper") is None

    drive(scenario)


def test_lookup_returns_none_once_the_actor_stopped(drive: Drive) -> None:
    """A stopped actor's path no longer resolves."""

    async def scenario(d: Driver) -> None:
        shop = d.spawn(Shop, name="shop")

        await d.stop(shop)

        assert d.system.lookup("/user/shop") is None

    drive(scenario)


def test_names_are_unique_per_parent(drive: Drive) -> None:
    """A second live actor with the same name under one parent is refused."""

    async def scenario(d: Driver) -> None:
        shop = d.spawn(Shop, name="shop")
        other = d.spawn(Shop, name="other")
        await d.ask(shop, Open("cart"))

        with pytest.raises(NameTakenError, match="shop"):
            d.spawn(Shop, name="shop")
        with pytest.raises(NameTakenError, match="cart"):
            await d.ask(shop, Open("cart"))
        cousin = await d.ask(other, Open("cart"))

        assert cousin.path == "/user/other/cart"

    drive(scenario)


def test_generated_names_are_distinct_and_resolvable(drive: Drive) -> None:
    """Actors spawned without a name get distinct '$' names under their parent."""

    async def scenario(d: Driver) -> None:
        shop = d.spawn(Shop, name="shop")

        refs = [d.spawn(Cart) for _ in range(5)]
        carts = [await d.ask(shop, Open(None)) for _ in range(3)]

        names = [ref.name for ref in refs + carts]
        assert len(set(names)) == 8
        assert all(name.startswith("$") for name in names)
        assert [ref.path for ref in refs] == [f"/user/{ref.name}" for ref in refs]
        assert [c.path for c in carts] == [f"/user/shop/{c.name}" for c in carts]
        assert [d.system.lookup(ref.path) for ref in refs + carts] == refs + carts

    drive(scenario)


def test_a_name_is_free_again_after_its_actor_stopped(drive: Drive) -> None:
    """Stop, then spawn the same name: a new actor, whose ref differs from the old."""

    async def scenario(d: Driver) -> None:
        old = d.spawn(Cart, name="cart")

        stopped = await d.stop(old)
        new = d.spawn(Cart, name="cart")

        assert stopped is True
        assert new.path == old.path == "/user/cart"
        assert new != old
        assert not old.is_alive()
        assert new.is_alive()
        assert d.system.lookup("/user/cart") == new
        assert (await d.ask(new, "who"))[1] == new

    drive(scenario)


def test_refs_are_hashable_and_equal_for_the_same_actor(drive: Drive) -> None:
    """Refs to one actor are equal and hash alike; the repr shows the path."""

    async def scenario(d: Driver) -> None:
        cart = d.spawn(Cart, name="cart")

        same = d.system.lookup("/user/cart")
        _, from_inside, _ = await d.ask(cart, "who")

        assert same == cart == from_inside
        assert hash(same) == hash(cart) == hash(from_inside)
        assert len({cart, same, from_inside}) == 1
        assert cart != d.spawn(Cart, name="other")
        assert cart != "/user/cart"
        assert "/user/cart" in repr(cart)

    drive(scenario)


def test_children_lists_live_children_in_spawn_order(drive: Drive) -> None:
    """context.children and context.child follow spawns and stops."""

    async def scenario(d: Driver) -> None:
        shop = d.spawn(Shop, name="shop")
        first = await d.ask(shop, Open("first"))
        second = await d.ask(shop, Open("second"))
        third = await d.ask(shop, Open("third"))

        before = await d.ask(shop, Children())
        await d.stop(second)
        after = await d.ask(shop, Children())
        missing = await d.ask(shop, Child("second"))
        present = await d.ask(shop, Child("third"))

        assert before == (first, second, third)
        assert after == (first, third)
        assert missing is None
        assert present == third

    drive(scenario)


def test_children_can_be_spawned_in_on_start(drive: Drive) -> None:
    """An actor that spawns its children in on_start starts with them."""

    async def scenario(d: Driver) -> None:
        founder = d.spawn(Founder, name="founder")

        children = await d.ask(founder, "children")

        assert [child.path for child in children] == [
            "/user/founder/first",
            "/user/founder/second",
        ]

    drive(scenario)


def test_stopping_a_parent_stops_its_children_first(drive: Drive) -> None:
    """Stop order: every child's on_stop before its parent's, each exactly once."""

    async def scenario(d: Driver) -> None:
        stops: list[str] = d.journal()
        root = await build_tree(d, stops)

        stopped = await d.stop(root)
        again = await d.stop(root)

        order = list(stops)
        assert (stopped, again) == (True, False)
        assert sorted(order) == [
            "/user/root",
            "/user/root/a",
            "/user/root/a/a1",
            "/user/root/b",
        ]
        assert order.index("/user/root/a/a1") < order.index("/user/root/a")
        assert order[-1] == "/user/root"
        assert d.system.lookup("/user/root/a/a1") is None

    drive(scenario)

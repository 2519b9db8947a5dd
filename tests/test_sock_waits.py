"""How a sock_* operation waits: the fd it watches, before, during and after
the wait, and what becomes of the socket when others use, close, duplicate
or reuse it. (fastloop asks the kernel for one report per wait: these pin
down that nothing of it shows, beside asyncio's level-triggered watch.)"""

import array
import asyncio
import errno
import socket
import time

import pytest

PAYLOAD = bytes(range(256)) * 32768  # 8 MiB: more than the socket buffers hold


@pytest.fixture
def socket_pair():
    """Two connected non-blocking Unix sockets: the kernel delivers what one
    sends before send() returns, so every test below is deterministic."""
    left, right = _pair()
    try:
        yield left, right
    finally:
        left.close()
        right.close()


def _pair():
    left, right = socket.socketpair()
    left.setblocking(False)
    right.setblocking(False)
    return left, right


async def _waiting(loop, operation):
    """Start ``operation`` and let it reach its wait."""
    task = asyncio.ensure_future(operation)
    await asyncio.sleep(0)
    assert not task.done()
    return task


async def _cpu_seconds_while_sleeping(seconds):
    """The CPU time this process spends while the loop sleeps: a loop
    woken again and again by an fd nobody watches spends it all."""
    started = time.process_time()
    await asyncio.sleep(seconds)
    return time.process_time() - started


def test_sock_recv_waits_again_and_again_on_one_socket(loop, socket_pair):
    left, right = socket_pair

    async def main():
        received = []
        for number in range(20):
            receiving = await _waiting(loop, loop.sock_recv(left, 100))
            right.send(b"%d" % number)
            received.append(await receiving)
        return received

    assert loop.run_until_complete(main()) == [b"%d" % number for number in range(20)]


def test_sock_recv_into_waits_again_and_again_on_one_socket(loop, socket_pair):
    left, right = socket_pair

    async def main():
        buffer = bytearray(100)
        received = []
        for number in range(20):
            receiving = await _waiting(loop, loop.sock_recv_into(left, buffer))
            right.send(b"%d" % number)
            received.append(bytes(buffer[:await receiving]))
        return received

    assert loop.run_until_complete(main()) == [b"%d" % number for number in range(20)]


def test_sock_recv_keeps_waiting_when_another_reader_took_its_data(loop, socket_pair):
    left, right = socket_pair

    async def main():
        receiving = await _waiting(loop, loop.sock_recv(left, 100))
        right.send(b"taken")
        # Runs in the next iteration before the sock_recv callback, which
        # then finds nothing to read: it must wait for the next data.
        taken = []
        loop.call_soon(lambda: taken.append(left.recv(100)))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert taken == [b"taken"]
        assert not receiving.done()
        right.send(b"kept")
        return await asyncio.wait_for(receiving, 5)

    assert loop.run_until_complete(main()) == b"kept"


def test_sock_accept_keeps_waiting_when_another_accept_took_the_connection(loop):
    async def main():
        with socket.create_server(("127.0.0.1", 0)) as listener:
            listener.setblocking(False)
            accepting = await _waiting(loop, loop.sock_accept(listener))
            first = socket.create_connection(listener.getsockname())
            taken = []
            loop.call_soon(lambda: taken.append(listener.accept()[0]))
            await asyncio.sleep(0.05)
            assert len(taken) == 1 and not accepting.done()
            second = socket.create_connection(listener.getsockname())
            conn, peer = await asyncio.wait_for(accepting, 5)
            accepted_second = peer == second.getsockname()
            for sock in (first, second, taken[0], conn):
                sock.close()
            return accepted_second

    assert loop.run_until_complete(main())


def test_add_reader_works_on_a_socket_sock_recv_waited_on_before(loop, socket_pair):
    left, right = socket_pair

    async def main():
        receiving = await _waiting(loop, loop.sock_recv(left, 100))
        right.send(b"first")
        assert await receiving == b"first"
        fired = asyncio.Event()
        loop.add_reader(left.fileno(), fired.set)
        right.send(b"second")
        await asyncio.wait_for(fired.wait(), 5)
        removed = loop.remove_reader(left.fileno())
        # Left unread: nothing watches the socket now, the loop sleeps.
        cpu = await _cpu_seconds_while_sleeping(0.2)
        return removed, cpu, await loop.sock_recv(left, 100)

    removed, cpu, data = loop.run_until_complete(main())
    assert removed is True
    assert cpu < 0.1
    assert data == b"second"


def test_add_reader_during_a_sock_recv_takes_the_socket_over(loop, socket_pair):
    # As on asyncio: the sock_recv's reader is replaced, so it never
    # completes, and cancelling it leaves the new reader in place.
    left, right = socket_pair

    async def main():
        receiving = await _waiting(loop, loop.sock_recv(left, 100))
        fired = asyncio.Event()
        loop.add_reader(left.fileno(), fired.set)
        right.send(b"data")
        await asyncio.wait_for(fired.wait(), 5)
        assert not receiving.done()
        receiving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await receiving
        return loop.remove_reader(left.fileno()), left.recv(100)

    assert loop.run_until_complete(main()) == (True, b"data")


def test_cancelled_sock_recv_leaves_the_loop_asleep_when_data_comes(loop, socket_pair):
    left, right = socket_pair

    async def main():
        receiving = await _waiting(loop, loop.sock_recv(left, 100))
        receiving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await receiving
        right.send(b"late")
        cpu = await _cpu_seconds_while_sleeping(0.2)
        return cpu, loop.remove_reader(left.fileno()), await loop.sock_recv(left, 100)

    cpu, removed, data = loop.run_until_complete(main())
    assert cpu < 0.1
    assert removed is False
    assert data == b"late"


def test_a_socket_closed_after_a_sock_recv_wait_leaves_its_fd_to_the_next_socket(loop):
    async def main():
        left, right = _pair()
        with right:
            receiving = await _waiting(loop, loop.sock_recv(left, 100))
            right.send(b"old")
            assert await receiving == b"old"
            number = left.fileno()
            left.close()
        new_left, new_right = _pair()
        with new_left, new_right:
            assert number in (new_left.fileno(), new_right.fileno())
            results = []
            for sock, peer in ((new_left, new_right), (new_right, new_left)):
                receiving = await _waiting(loop, loop.sock_recv(sock, 100))
                peer.send(b"new")
                results.append(await asyncio.wait_for(receiving, 5))
                fired = asyncio.Event()
                loop.add_reader(sock.fileno(), fired.set)
                peer.send(b"more")
                await asyncio.wait_for(fired.wait(), 5)
                loop.remove_reader(sock.fileno())
                results.append(sock.recv(100))
            return results

    assert loop.run_until_complete(main()) == [b"new", b"more"] * 2


def test_a_socket_closed_while_sock_recv_waits_can_be_cancelled_and_its_fd_reused(loop):
    async def main():
        left, right = _pair()
        with right:
            receiving = await _waiting(loop, loop.sock_recv(left, 100))
            number = left.fileno()
            left.close()
            await asyncio.sleep(0.05)
            assert not receiving.done()
            receiving.cancel()
            with pytest.raises(asyncio.CancelledError):
                await receiving
        new_left, new_right = _pair()
        with new_left, new_right:
            sock, peer = ((new_left, new_right) if new_left.fileno() == number
                          else (new_right, new_left))
            assert sock.fileno() == number
            receiving = await _waiting(loop, loop.sock_recv(sock, 100))
            peer.send(b"new")
            return await asyncio.wait_for(receiving, 5)

    assert loop.run_until_complete(main()) == b"new"


def test_a_duplicate_of_a_socket_sock_recv_waited_on_does_not_wake_the_loop(loop):
    # The socket is closed, its duplicate lives on and gets data, and a new
    # socket takes the fd number: only the new socket's data counts.
    async def main():
        left, right = _pair()
        with right:
            receiving = await _waiting(loop, loop.sock_recv(left, 100))
            right.send(b"old")
            assert await receiving == b"old"
            number = left.fileno()
            duplicate = left.dup()
            left.close()
            with duplicate:
                new_left, new_right = _pair()
                with new_left, new_right:
                    sock, peer = ((new_left, new_right) if new_left.fileno() == number
                                  else (new_right, new_left))
                    assert sock.fileno() == number
                    receiving = await _waiting(loop, loop.sock_recv(sock, 100))
                    right.send(b"to the duplicate")
                    cpu = await _cpu_seconds_while_sleeping(0.2)
                    assert not receiving.done()
                    peer.send(b"new")
                    return cpu, await asyncio.wait_for(receiving, 5), duplicate.recv(100)

    cpu, data, duplicate_data = loop.run_until_complete(main())
    assert cpu < 0.1
    assert data == b"new"
    assert duplicate_data == b"to the duplicate"


def test_sock_recv_on_a_socket_closed_while_its_duplicate_gets_data_fails_with_ebadf(loop):
    # The kernel keeps the closed socket's watch while the duplicate keeps
    # the socket open: its data wakes the wait, whose recv() then fails.
    async def main():
        left, right = _pair()
        with right:
            receiving = await _waiting(loop, loop.sock_recv(left, 100))
            duplicate = left.dup()
            left.close()
            with duplicate:
                right.send(b"to the duplicate")
                with pytest.raises(OSError) as failure:
                    await asyncio.wait_for(receiving, 5)
                return failure.value.errno

    assert loop.run_until_complete(main()) == errno.EBADF


def test_sock_recv_and_a_blocked_sock_sendall_on_one_socket_both_complete(loop, socket_pair):
    # A reader wait and a writer wait on one fd at once, each ending on its own.
    left, right = socket_pair

    async def main():
        receiving = await _waiting(loop, loop.sock_recv(left, 100))
        sending = await _waiting(loop, loop.sock_sendall(left, PAYLOAD))
        received = bytearray()
        while len(received) < len(PAYLOAD):
            received += await loop.sock_recv(right, 1 << 16)
        await asyncio.wait_for(sending, 5)
        assert not receiving.done()
        right.send(b"reply")
        reply = await asyncio.wait_for(receiving, 5)
        # Both waits over: the socket is watched by nobody.
        right.send(b"unread")
        cpu = await _cpu_seconds_while_sleeping(0.2)
        return bytes(received) == PAYLOAD, reply, cpu

    complete, reply, cpu = loop.run_until_complete(main())
    assert complete
    assert reply == b"reply"
    assert cpu < 0.1


def test_a_sock_recv_wait_ended_by_the_writer_side_leaves_the_reader_waiting(loop, socket_pair):
    # The writer wait ends first, then the reader's, in the other order.
    left, right = socket_pair

    async def main():
        sending = await _waiting(loop, loop.sock_sendall(left, PAYLOAD))
        receiving = await _waiting(loop, loop.sock_recv(left, 100))
        right.send(b"reply")
        reply = await asyncio.wait_for(receiving, 5)
        assert not sending.done()
        received = bytearray()
        while len(received) < len(PAYLOAD):
            received += await loop.sock_recv(right, 1 << 16)
        await asyncio.wait_for(sending, 5)
        receiving = await _waiting(loop, loop.sock_recv(left, 100))
        right.send(b"again")
        return reply, bytes(received) == PAYLOAD, await asyncio.wait_for(receiving, 5)

    assert loop.run_until_complete(main()) == (b"reply", True, b"again")


# Not asyncio's promise: its sock_sendall compares the bytes sent with the
# memoryview's length in items, and never finishes sending such a view.
@pytest.mark.fastloop_only
@pytest.mark.parametrize("items", [16, len(PAYLOAD) // 4], ids=["sent-at-once", "waits"])
def test_sock_sendall_counts_a_memoryview_in_bytes_not_items(loop, socket_pair, items):
    left, right = socket_pair
    data = memoryview(array.array("i", range(items)))

    async def main():
        sending = asyncio.ensure_future(loop.sock_sendall(left, data))
        received = bytearray()
        while len(received) < data.nbytes:
            received += await loop.sock_recv(right, 1 << 16)
        await asyncio.wait_for(sending, 5)
        right.send(b"end")
        return bytes(received), await loop.sock_recv(left, 100)

    received, end = loop.run_until_complete(main())
    assert received == data.tobytes()
    assert end == b"end"

"""The Redis store: state shared by any number of server processes.

Every decision other processes could race on is one Lua script (redis_scripts.py). What a
visitor or counselor types reaches Redis only as AES-GCM ciphertext under a per-chat key,
and that key is stored only wrapped by a key derived from CHATSERVER_SECRET; ending a chat
deletes both (crypto-shredding), and every chat key carries a TTL in case no process is
left to end it.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from socketio.redis_manager import parse_redis_sentinel_url

from chatserver import crypto
from chatserver.core.counting import DailyCounts, MonthlyDemand
from chatserver.core.models import Chat, ChatState, CounselorState, EndReason, Message, Sender
from chatserver.store import redis_scripts as lua
from chatserver.store.base import (
    Appended,
    AppendLimits,
    Assignment,
    ChatMark,
    Connection,
    QueueSummary,
    Refusal,
    Refused,
    queue_score,
    text_bytes,
)

DEFAULT_PREFIX = "chatserver:"
# An open chat's keys expire this long after its last activity if no process ends it.
CHAT_TTL_SECONDS = 12 * 3600
# An ended chat's tombstone (its token's hash and the reason) lets a late resume hear
# "ended"; the switchboard forgets it sooner, this is the fallback.
ENDED_TTL_SECONDS = 3600
_FRONT_OFFSET = -queue_score(0, front=True)
_KEY_CACHE_SIZE = 10_000
MAX_CONNECTIONS = 64


def connect(url: str) -> aioredis.Redis:
    """A client for redis://, rediss:// or redis+sentinel:// URLs that retries briefly."""
    retry = Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=5)
    errors: list[type[Exception]] = [RedisConnectionError, RedisTimeoutError]
    if url.startswith("redis+sentinel://"):
        sentinels, service, kwargs = parse_redis_sentinel_url(url)
        sentinel = aioredis.Sentinel(sentinels, **kwargs)  # type: ignore[no-untyped-call]
        master = sentinel.master_for(service or "mymaster", retry=retry, retry_on_error=errors)
        return cast(aioredis.Redis, master)
    # Wait for a free connection under load instead of failing with "Too many connections".
    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=MAX_CONNECTIONS, timeout=5)
    return aioredis.Redis(connection_pool=pool, retry=retry, retry_on_error=errors)


def _ts(t: datetime) -> str:
    return f"{t.timestamp():.6f}"


def _time(value: str | None) -> datetime | None:
    return datetime.fromtimestamp(float(value), UTC) if value else None


def _str(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else value


def _fields(raw: Mapping[Any, Any] | Sequence[Any]) -> dict[str, str]:
    """HGETALL as a dict (Lua returns it as a flat list)."""
    if isinstance(raw, Mapping):
        return {cast(str, _str(k)): cast(str, _str(v)) for k, v in raw.items()}
    items = [cast(str, _str(v)) for v in raw]
    return dict(zip(items[::2], items[1::2], strict=True))


def _chat(chat_id: str, f: dict[str, str]) -> Chat:
    reason = f.get("end_reason")
    return Chat(
        chat_id=chat_id,
        helpline=f["helpline"],
        token_hash=f["token_hash"],
        lang=f["lang"],
        state=ChatState(f["state"]),
        requested_at=cast(datetime, _time(f["requested_at"])),
        enqueued_at=cast(datetime, _time(f["enqueued_at"])),
        ticket=int(f.get("ticket") or 0),
        counselor=f.get("counselor") or None,
        counselor_name=f.get("counselor_name") or None,
        assigned_at=_time(f.get("assigned_at")),
        answered=f.get("answered") == "1",
        last_seq=int(f.get("last_seq") or 0),
        end_reason=EndReason(reason) if reason else None,
        session_hash=f.get("session_hash") or None,
        visitor_wrote=f.get("visitor_wrote") == "1",
    )


class RedisStore:
    def __init__(
        self,
        client: aioredis.Redis,
        key_encryption_key: bytes,
        *,
        prefix: str = DEFAULT_PREFIX,
        owns_client: bool = False,
    ) -> None:
        self.redis = client
        self.prefix = prefix
        self._kek = key_encryption_key
        self._owns_client = owns_client
        self._chat_keys: OrderedDict[str, bytes] = OrderedDict()
        scripts = {
            "create": lua.CREATE_CHAT,
            "assign": lua.ASSIGN_NEXT,
            "end": lua.END_CHAT,
            "close": lua.CLOSE_QUEUE,
            "requeue": lua.REQUEUE_COUNSELOR_CHATS,
            "append": lua.APPEND_MESSAGE,
            "counselor_connected": lua.COUNSELOR_CONNECTED,
            "visitor_connected": lua.VISITOR_CONNECTED,
            "sweep": lua.SWEEP_DEAD_PROCESSES,
            "pop_deadlines": lua.POP_DUE_DEADLINES,
            "forget_counselor": lua.FORGET_COUNSELOR,
            "transfer_to_helpline": lua.TRANSFER_TO_HELPLINE,
            "transfer_to_counselor": lua.TRANSFER_TO_COUNSELOR,
            "confirm": lua.CONFIRM_ASSIGNMENT,
            "withdraw": lua.WITHDRAW_OFFER,
        }
        self._scripts = {name: client.register_script(src) for name, src in scripts.items()}

    async def _run(self, script: str, *args: str | bytes | int) -> Any:
        return await self._scripts[script](keys=[], args=[self.prefix, *args])

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    # --- chats and queues ------------------------------------------------------------

    async def create_chat(self, chat: Chat, max_queue: int) -> int | None:
        chat_key = crypto.new_chat_key()
        wrapped = crypto.wrap_chat_key(self._kek, chat.chat_id, chat_key)
        fields = {
            "helpline": chat.helpline,
            "token_hash": chat.token_hash,
            "lang": chat.lang,
            "state": chat.state.value,
            "requested_at": _ts(chat.requested_at),
            "enqueued_at": _ts(chat.enqueued_at),
            "session_hash": chat.session_hash or "",
        }
        flat = [item for pair in fields.items() for item in pair]
        result = await self._run(
            "create", chat.chat_id, max_queue, CHAT_TTL_SECONDS, wrapped, *flat
        )
        if result == -1:
            return None
        self._remember_key(chat.chat_id, chat_key)
        return int(result[0])

    async def get_chat(self, chat_id: str) -> Chat | None:
        raw = await self.redis.hgetall(self._key("chat", chat_id))
        return _chat(chat_id, _fields(raw)) if raw else None

    async def _chats(self, chat_ids: Sequence[str]) -> list[Chat]:
        if not chat_ids:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            for chat_id in chat_ids:
                pipe.hgetall(self._key("chat", chat_id))
            rows = await pipe.execute()
        return [_chat(c, _fields(r)) for c, r in zip(chat_ids, rows, strict=True) if r]

    async def find_chat_by_token(self, token_hash: str) -> Chat | None:
        chat_id = _str(await self.redis.get(self._key("token", token_hash)))
        return await self.get_chat(chat_id) if chat_id else None

    async def chat_marks(self, chat_ids: list[str]) -> dict[str, ChatMark]:
        if not chat_ids:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for chat_id in chat_ids:
                pipe.hmget(self._key("chat", chat_id), "state", "last_seq", "helpline")
            rows = await pipe.execute()
        marks = {}
        for chat_id, (state, last_seq, helpline) in zip(chat_ids, rows, strict=True):
            if state is not None:
                marks[chat_id] = ChatMark(
                    ChatState(cast(str, _str(state))),
                    int(last_seq or 0),
                    cast(str, _str(helpline)) if helpline is not None else "",
                )
        return marks

    async def waiting(self, helpline: str) -> list[Chat]:
        members = await self.redis.zrange(self._key("queue", helpline), 0, -1)
        ids = [cast(str, _str(cast(bytes, i))) for i in members]
        return await self._chats(ids)

    async def waiting_ids(self, helpline: str) -> list[str]:
        members = await self.redis.zrange(self._key("queue", helpline), 0, -1)
        return [cast(str, _str(cast(bytes, m))) for m in members]

    async def queue_summary(self, helpline: str) -> QueueSummary:
        queue = self._key("queue", helpline)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zcard(queue)
            # Chats put back in front (negative scores) and the first new request.
            pipe.zrangebyscore(queue, "-inf", "(0")
            pipe.zrangebyscore(queue, 0, "+inf", start=0, num=1)
            count, front, first = await pipe.execute()
        ids = [cast(str, _str(m)) for m in [*front, *first]]
        if not ids:
            return QueueSummary(waiting=int(count), oldest_enqueued_at=None)
        async with self.redis.pipeline(transaction=False) as pipe:
            for chat_id in ids:
                pipe.hget(self._key("chat", chat_id), "enqueued_at")
            times = [_time(_str(t)) for t in await pipe.execute()]
        known = [t for t in times if t is not None]
        return QueueSummary(waiting=int(count), oldest_enqueued_at=min(known, default=None))

    async def queue_position(self, helpline: str, chat_id: str) -> int | None:
        rank = await self.redis.zrank(self._key("queue", helpline), chat_id)
        return None if rank is None else cast(int, rank) + 1

    async def assign_next(
        self,
        helpline: str,
        max_chats: int,
        now: datetime,
        *,
        chat_id: str | None = None,
        username: str | None = None,
    ) -> Assignment | None:
        result = await self._run(
            "assign", helpline, max_chats, _ts(now), CHAT_TTL_SECONDS, chat_id or "", username or ""
        )
        if not result:
            return None
        chat_id, username, first = cast(str, _str(result[0])), cast(str, _str(result[1])), result[2]
        chat = await self.get_chat(chat_id)
        counselor = await self.get_counselor(username)
        assert chat is not None and counselor is not None
        # As the script left it, not as read just now: see ASSIGN_NEXT.
        chat.state = ChatState(cast(str, _str(result[3])))
        return Assignment(chat=chat, counselor=counselor, first_answer=int(first) == 1)

    async def confirm_assignment(
        self, chat_id: str, username: str, now: datetime
    ) -> Assignment | None:
        result = await self._run("confirm", chat_id, username)
        if not result:
            return None
        chat = await self.get_chat(chat_id)
        counselor = await self.get_counselor(username)
        if chat is None or counselor is None:
            return None
        return Assignment(chat=chat, counselor=counselor, first_answer=int(result) == 2)

    async def withdraw_offer(
        self, chat_id: str, now: datetime, unconfirmed: bool = True
    ) -> Chat | None:
        before = await self._run("withdraw", chat_id, _ts(now), _FRONT_OFFSET, int(unconfirmed))
        return _chat(chat_id, _fields(before)) if before else None

    async def end_chat(self, chat_id: str, reason: EndReason, now: datetime) -> Chat | None:
        before = await self._run("end", chat_id, reason.value, _ts(now), ENDED_TTL_SECONDS)
        self._chat_keys.pop(chat_id, None)
        return _chat(chat_id, _fields(before)) if before else None

    async def ended_reason(self, token_hash: str) -> EndReason | None:
        reason = _str(await self.redis.get(self._key("ended", token_hash)))
        return EndReason(reason) if reason else None

    async def forget_ended(self, token_hash: str) -> None:
        await self.redis.delete(self._key("ended", token_hash))

    async def close_queue(self, helpline: str, now: datetime) -> list[Chat]:
        flat = await self._run("close", helpline, _ts(now), ENDED_TTL_SECONDS)
        closed = []
        for raw_id, row in zip(flat[::2], flat[1::2], strict=True):
            chat_id = cast(str, _str(raw_id))
            self._chat_keys.pop(chat_id, None)
            closed.append(_chat(chat_id, _fields(row)))
        return closed

    async def requeue_counselor_chats(self, username: str, now: datetime) -> list[Chat]:
        ids = await self._run("requeue", username, _ts(now), _FRONT_OFFSET)
        return await self._chats([cast(str, _str(i)) for i in ids])

    async def transfer_to_helpline(
        self, chat_id: str, username: str, helpline: str, now: datetime
    ) -> Chat | None:
        moved = await self._run(
            "transfer_to_helpline", chat_id, username, helpline, _ts(now), _FRONT_OFFSET
        )
        return await self.get_chat(chat_id) if moved else None

    async def transfer_to_counselor(
        self, chat_id: str, username: str, colleague: str, max_chats: int, now: datetime
    ) -> Assignment | None:
        moved = await self._run(
            "transfer_to_counselor", chat_id, username, colleague, max_chats, _ts(now)
        )
        if not moved:
            return None
        chat = await self.get_chat(chat_id)
        counselor = await self.get_counselor(colleague)
        if chat is None or counselor is None:
            return None
        chat.state = ChatState(cast(str, _str(moved)))  # as the script left it
        return Assignment(chat=chat, counselor=counselor, first_answer=False)

    async def set_note(self, chat_id: str, note: str) -> None:
        chat_key = await self._chat_key(chat_id)
        if chat_key is None:
            return
        sealed = crypto.encrypt_chat_entry(chat_key, chat_id, b"note:" + note.encode())
        await self.redis.set(self._key("chat", chat_id, "note"), sealed, ex=CHAT_TTL_SECONDS)

    async def note(self, chat_id: str) -> str | None:
        chat_key = await self._chat_key(chat_id)
        sealed = await self.redis.get(self._key("chat", chat_id, "note"))
        if chat_key is None or not sealed:
            return None
        plain = crypto.decrypt_chat_entry(chat_key, chat_id, cast(bytes, sealed))
        return plain.removeprefix(b"note:").decode()

    async def block(self, hashes: list[str], until: datetime, now: datetime) -> None:
        seconds = max(1, int((until - now).total_seconds()))
        async with self.redis.pipeline(transaction=True) as pipe:
            for hash_ in hashes:
                pipe.set(self._key("blocked", hash_), _ts(until), ex=seconds)
            await pipe.execute()

    async def is_blocked(self, hash_: str, now: datetime) -> bool:
        until = _time(_str(await self.redis.get(self._key("blocked", hash_))))
        return until is not None and until > now

    # --- messages --------------------------------------------------------------------

    def _remember_key(self, chat_id: str, chat_key: bytes) -> None:
        self._chat_keys[chat_id] = chat_key
        self._chat_keys.move_to_end(chat_id)
        while len(self._chat_keys) > _KEY_CACHE_SIZE:
            self._chat_keys.popitem(last=False)

    async def _chat_key(self, chat_id: str) -> bytes | None:
        cached = self._chat_keys.get(chat_id)
        if cached is not None:
            return cached
        wrapped = await self.redis.get(self._key("chat", chat_id, "key"))
        if wrapped is None:
            return None
        chat_key = crypto.unwrap_chat_key(self._kek, chat_id, cast(bytes, wrapped))
        self._remember_key(chat_id, chat_key)
        return chat_key

    def _seal(self, chat_key: bytes, chat_id: str, message: Message) -> bytes:
        entry = {
            "s": message.sender.value,
            "t": message.text,
            "ts": message.ts.timestamp(),
            "c": message.client_msg_id,
        }
        return crypto.encrypt_chat_entry(chat_key, chat_id, json.dumps(entry).encode())

    def _open(self, chat_key: bytes, chat_id: str, seq: int, sealed: bytes) -> Message:
        entry = json.loads(crypto.decrypt_chat_entry(chat_key, chat_id, sealed))
        return Message(
            seq=seq,
            sender=Sender(entry["s"]),
            text=entry["t"],
            ts=datetime.fromtimestamp(entry["ts"], UTC),
            client_msg_id=entry["c"],
        )

    async def append_message(
        self,
        chat_id: str,
        sender: Sender,
        text: str,
        client_msg_id: str | None,
        now: datetime,
        limits: AppendLimits | None = None,
    ) -> Appended | Refused | None:
        chat_key = await self._chat_key(chat_id)
        if chat_key is None:
            return None
        draft = Message(seq=0, sender=sender, text=text, ts=now, client_msg_id=client_msg_id)
        dedupe = f"{sender.value}:{client_msg_id}" if client_msg_id else ""
        caps: list[str | int] = [0, 0, 0, 0]
        if limits is not None:
            rate = f"{limits.rate:.6f}" if limits.rate is not None else 0
            caps = [limits.max_messages, limits.max_bytes, rate, limits.burst]
        result = await self._run(
            "append",
            chat_id,
            dedupe,
            self._seal(chat_key, chat_id, draft),
            CHAT_TTL_SECONDS,
            sender.value,
            text_bytes(text),
            *caps,
            _ts(now),
        )
        if not result:
            return None
        if int(result[0]) == 0:
            reason = Refusal(cast(str, _str(result[1])))
            return Refused(reason, first=int(result[2]) == 1)
        seq, new = int(result[0]), int(result[1]) == 1
        if new:
            return Appended(message=Message(seq, sender, text, now, client_msg_id), new=True)
        return Appended(message=self._open(chat_key, chat_id, seq, result[2]), new=False)

    async def messages_since(
        self, chat_id: str, last_seq: int, limit: int | None = None
    ) -> list[Message]:
        chat_key = await self._chat_key(chat_id)
        if chat_key is None:
            return []
        start = max(0, last_seq)
        end = -1 if limit is None else start + limit - 1
        sealed = await self.redis.lrange(self._key("chat", chat_id, "log"), start, end)
        return [
            self._open(chat_key, chat_id, start + i + 1, cast(bytes, s))
            for i, s in enumerate(sealed)
        ]

    # --- counselors ------------------------------------------------------------------

    async def counselor_connected(
        self,
        username: str,
        display_name: str,
        helplines: tuple[str, ...],
        connection: Connection,
        now: datetime,
        confirms: bool = False,
    ) -> CounselorState:
        await self._run(
            "counselor_connected",
            username,
            display_name,
            connection.key,
            connection.process_id,
            int(confirms),
            *helplines,
        )
        return cast(CounselorState, await self.get_counselor(username))

    async def counselor_disconnected(
        self, username: str, connection: Connection, now: datetime
    ) -> CounselorState | None:
        key = self._key("counselor", username)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.srem(f"{key}:conns", connection.key)
            pipe.srem(
                self._key("process", connection.process_id, "conns"),
                f"counselor|{username}|{connection.key}",
            )
            await pipe.execute()
        return await self.get_counselor(username)

    async def set_available(
        self, username: str, available: bool, now: datetime, away_reason: str | None = None
    ) -> CounselorState | None:
        key = self._key("counselor", username)
        if not await self.redis.exists(key):
            return None
        async with self.redis.pipeline(transaction=True) as pipe:
            # Becoming available counts as the start of being idle.
            if available:
                pipe.hget(key, "available")
            pipe.hset(key, "available", "1" if available else "0")
            if available or away_reason is None:
                pipe.hdel(key, "away_reason")
            else:
                pipe.hset(key, "away_reason", away_reason)
            results = await pipe.execute()
        if available and _str(results[0]) != "1":
            await self.redis.hset(key, "idle_since", _ts(now))
        return await self.get_counselor(username)

    async def get_counselor(self, username: str) -> CounselorState | None:
        states = await self._counselors([username])
        return states[0] if states else None

    async def _counselors(self, usernames: Sequence[str]) -> list[CounselorState]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for username in usernames:
                key = self._key("counselor", username)
                pipe.hgetall(key)
                pipe.smembers(f"{key}:chats")
                pipe.scard(f"{key}:conns")
            rows = await pipe.execute()
        states = []
        for index, username in enumerate(usernames):
            raw, chats, conns = rows[3 * index : 3 * index + 3]
            if not raw:
                continue
            f = _fields(raw)
            states.append(
                CounselorState(
                    username=username,
                    display_name=f.get("display_name", username),
                    helplines=tuple(h for h in f.get("helplines", "").split(",") if h),
                    available=f.get("available") == "1",
                    connections=int(conns),
                    chats={cast(str, _str(c)) for c in chats},
                    idle_since=_time(f.get("idle_since")),
                    confirms=f.get("confirms") == "1",
                    away_reason=f.get("away_reason") or None,
                )
            )
        return states

    async def counselors(self) -> list[CounselorState]:
        names = sorted(
            cast(str, _str(u)) for u in await self.redis.smembers(self._key("counselors"))
        )
        return await self._counselors(names)

    async def forget_counselor(self, username: str) -> None:
        await self._run("forget_counselor", username)

    # --- visitor connections -----------------------------------------------------------

    async def visitor_connected(self, chat_id: str, connection: Connection) -> int:
        return int(
            await self._run("visitor_connected", chat_id, connection.key, connection.process_id)
        )

    async def visitor_disconnected(self, chat_id: str, connection: Connection) -> int:
        conns = self._key("chat", chat_id, "conns")
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.srem(conns, connection.key)
            pipe.srem(
                self._key("process", connection.process_id, "conns"),
                f"visitor|{chat_id}|{connection.key}",
            )
            pipe.scard(conns)
            results = await pipe.execute()
        return int(results[2])

    # --- server processes --------------------------------------------------------------

    async def heartbeat(self, process_id: str, expires_at: datetime) -> bool:
        added = await self.redis.zadd(self._key("processes"), {process_id: expires_at.timestamp()})
        return added == 0

    async def sweep_dead_processes(self, now: datetime) -> list[tuple[str, str]]:
        flat = [cast(str, _str(v)) for v in await self._run("sweep", _ts(now))]
        return list(zip(flat[::2], flat[1::2], strict=True))

    # --- deadlines -------------------------------------------------------------------

    async def set_deadline(self, key: str, at: datetime) -> None:
        await self.redis.zadd(self._key("deadlines"), {key: at.timestamp()})

    async def clear_deadline(self, key: str) -> None:
        await self.redis.zrem(self._key("deadlines"), key)

    async def pop_due_deadlines(self, now: datetime) -> list[str]:
        # The script's ZRANGEBYSCORE is inclusive: a deadline at exactly now is due.
        return [cast(str, _str(k)) for k in await self._run("pop_deadlines", _ts(now))]

    # --- counts ----------------------------------------------------------------------

    async def add_counts(self, helpline: str, day: date, counts: Mapping[str, int]) -> None:
        await self._add_to_period("counts", day.isoformat(), helpline, counts)

    async def daily_counts(
        self, first: date, last: date, helpline: str | None = None
    ) -> list[DailyCounts]:
        rows = await self._periods("counts", first.isoformat(), last.isoformat(), helpline)
        return [DailyCounts(date.fromisoformat(day), hid, counts) for day, hid, counts in rows]

    async def add_demand(self, helpline: str, month: str, cells: Mapping[str, int]) -> None:
        await self._add_to_period("demand", month, helpline, cells)

    async def monthly_demand(
        self, first: str, last: str, helpline: str | None = None
    ) -> list[MonthlyDemand]:
        rows = await self._periods("demand", first, last, helpline)
        return [MonthlyDemand(month, hid, cells) for month, hid, cells in rows]

    async def _add_to_period(
        self, kind: str, period: str, helpline: str, increments: Mapping[str, int]
    ) -> None:
        """HINCRBY into kind:period:helpline and list it in kind-index (counts and demand)."""
        changes = {name: n for name, n in increments.items() if n}
        if not changes:
            return
        key = self._key(kind, period, helpline)
        async with self.redis.pipeline(transaction=True) as pipe:
            for name, n in changes.items():
                pipe.hincrby(key, name, n)
            pipe.sadd(self._key(f"{kind}-index"), f"{period}|{helpline}")
            await pipe.execute()

    async def _periods(
        self, kind: str, first: str, last: str, helpline: str | None
    ) -> list[tuple[str, str, dict[str, int]]]:
        """(period, helpline, counters) of kind within [first, last] (ISO text compares)."""
        wanted = []
        for member in await self.redis.smembers(self._key(f"{kind}-index")):
            period, helpline_id = cast(str, _str(member)).split("|", 1)
            if first <= period <= last and (helpline is None or helpline_id == helpline):
                wanted.append((period, helpline_id))
        wanted.sort()
        async with self.redis.pipeline(transaction=False) as pipe:
            for period, helpline_id in wanted:
                pipe.hgetall(self._key(kind, period, helpline_id))
            rows = await pipe.execute() if wanted else []
        return [
            (period, helpline_id, {k: int(v) for k, v in _fields(row).items()})
            for (period, helpline_id), row in zip(wanted, rows, strict=True)
        ]

    # --- outcomes awaited after the visitor left first ----------------------------------

    async def await_outcome(
        self, username: str, chat_id: str, helpline: str, day: date, ttl_s: int
    ) -> None:
        key = self._key("awaited-outcome", username, chat_id)
        await self.redis.set(key, f"{day.isoformat()}|{helpline}", ex=ttl_s)

    async def take_awaited_outcome(self, username: str, chat_id: str) -> tuple[str, date] | None:
        raw = await self.redis.getdel(self._key("awaited-outcome", username, chat_id))
        if raw is None:
            return None
        day_text, helpline = cast(str, _str(raw)).split("|", 1)
        return helpline, date.fromisoformat(day_text)

    # --- lifecycle -------------------------------------------------------------------

    async def ping(self) -> bool:
        return bool(await self.redis.ping())

    async def close(self) -> None:
        if self._owns_client:
            await self.redis.aclose()

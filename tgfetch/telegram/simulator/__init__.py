"""Offline Telegram simulator: real Telethon clients against an in-process Telegram.

What it is
==========
`SimulatedTelegram` is one offline Telegram: a public broadcast channel with
deterministic content (and optionally more channels, ``more_channels``), any
number of accounts, per-account bandwidth and latency, and injectable faults. ``sim.client(name)`` returns a *real*
``telethon.TelegramClient`` whose network sender is replaced by a
`FakeSender`, so Telethon's own code runs unchanged: ``get_entity``,
``get_messages``, ``iter_download``, ``download_media``, FLOOD_WAIT auto-sleep,
FILE_MIGRATE handling, the error classes. ``tgfetch demo``, ``--simulate``,
the tests and the benchmarks use it; nothing touches the network.

::

    sim = SimulatedTelegram(seed=1, messages=1000, bandwidth=4e6,
                            faults="flood:GetFileRequest:rate=0.01:seconds=1")
    client = sim.client("alice")          # an authorized account
    await client.connect()
    chan = await client.get_entity(sim.channel_username)
    last = (await client.get_messages(chan, limit=1))[0].id   # == newest id
    msg = await client.get_messages(chan, ids=42)
    async for chunk in client.iter_download(msg.media.document,
                                            dc_id=msg.media.document.dc_id):
        ...
    sim.file_sha256(42); sim.rpc_counts("alice"); sim.bytes_served("alice")

How it works
============
Every Telethon RPC goes through ``TelegramClient._call(sender, request)`` and
``sender.send(request)`` (a Future). `FakeSender.send` serializes the request to
TL bytes and parses it back (``BinaryReader(bytes(request)).tgread_object()``),
strips ``invokeWithLayer``/``initConnection``/``invokeWithoutUpdates``, hands it
to the `Server`, serializes the answer, AES-IGE encrypts and decrypts it with
cryptg (``encrypt=True``, the default; about 250 MB/s end to end, 1.2 GB/s
without) and finishes with ``request.read_result(...)``. RPC errors become
Telethon exceptions through ``errors.rpc_message_to_error``. Clients are
`SimClient` (a ``TelegramClient`` subclass) whose ``_create_exported_sender``
returns a FakeSender on the requested DC for the same account (after the
usual auth.exportAuthorization / importAuthorization pair), and whose own
``_config`` class attribute keeps Telethon's class-level config cache apart
from real clients. Sessions are ``StringSession`` objects set to DC 2.

Channel content (deterministic from ``seed``)
=============================================
Ids ``first_id .. last_id``; about 16% text-only, 3% deleted (answered as
``MessageEmpty`` and absent from history), 2% service messages, the rest
photos (40%), videos (25%), documents (25%), audio (10%). About 30% of media
messages sit in albums of 2-10 *consecutive* ids sharing a ``grouped_id``
(photo/video albums, or document albums), caption on the first member. Sizes
are heavy-tailed (photos 50 KB-3 MB log-uniform, videos lognormal around 6 MB,
documents Pareto, all capped at 2 GB, then ``size_scale`` and
``max_file_size``); the default 1000-message channel holds 3-5 GB. About 12% of
documents carry hostile names (unicode, emoji, ``../../x``, ``/etc/passwd``,
``CON``, ``a\\x00b``, 300-byte names, no extension ...; see
`content.HOSTILE_NAMES`); about 1% of messages repost an earlier document
(same ``doc_id``, same bytes, so `total_media_bytes` <
`total_media_bytes_per_message`). Media live on DCs 1-5, mostly DC 2 (the
accounts' home DC). Photos have sizes ``s``, ``m`` and a ``y`` size
(``PhotoSize`` or ``PhotoSizeProgressive``) holding the file's bytes.

File bytes are generated on demand from a 1 MiB seeded pool (each 4 KiB block
is a keyed slice headed by (file key, block index), so every file's sha256
differs), at several GB/s; `file_sha256` streams and caches. Processes that
build ``SimulatedTelegram(seed=S, ...)`` with the same arguments see the same
channel, bytes and digests (all randomness is ``random.Random`` seeded through
sha256, never ``hash()``).

Per-account behaviour
=====================
The channel's id is derived from the seed and its username (10 digits), or
given as ``channel_id=`` (any id from 1 to 997852516352, e.g. a short one).
Each account name has its own user id, channel access hash and file
references: an ``InputChannel``/``InputPeerChannel`` with another account's
hash fails CHANNEL_INVALID, and another account's (or an older) file
reference fails FILE_REFERENCE_EXPIRED. ``sim.client(name)`` twice gives the
same account (same hash, counters, bandwidth). Bandwidth (bytes/s) is shared
by all of an account's concurrent getFile answers through a virtual-time
pacer (3 concurrent requests get about 1/3 each); ``latency`` is added to
every RPC, spread uniformly by ``jitter`` (a fraction of it, seeded per
account: real round trips are never all alike, and identical ones keep
accounts answering in the same millisecond); unthrottled means no sleeps.

Modelled requests: help.getConfig/getNearestDc/getAppConfig (Telegram's download
queue limits: 5 small files, 2 large), ping, users.getUsers,
updates.getState/getDifference/getChannelDifference, contacts.resolveUsername
(the channel, or the user ``sim.public_user``; unknown -> USERNAME_NOT_OCCUPIED),
messages.getDialogs (each account's chats, paged by offset_date/offset_id, ties
told apart by offset_peer, <= 100 per call: ``other_dialogs`` other chats
(default 150), for a member the channel as the 101st, and the extra channels),
messages.checkChatInvite (``sim.invite_hash``:
chatInviteAlready for a member, chatInvite after ``sim.leave(name)``; a hash
revoked by ``sim.revoke_invite()`` -> INVITE_HASH_EXPIRED, any other ->
INVITE_HASH_INVALID), channels.getChannels/getFullChannel/
getMessages (<= 200 ``InputMessageID``; more -> LIMIT_INVALID; unknown ids ->
``MessageEmpty``), messages.getHistory (offset_id, add_offset, limit <= 100,
max_id, min_id), upload.getFile (Telegram's rules exactly, see `files`: offset and
limit multiples of 4096 and 1 MiB divisible by the limit, or with ``precise``
multiples of 1024 and limit <= 1 MiB; no 1 MiB boundary crossing ->
OFFSET_INVALID/LIMIT_INVALID; file on
another DC -> FILE_MIGRATE_X; stale reference -> FILE_REFERENCE_EXPIRED),
auth.sendCode/signIn/checkPassword/logOut/exportAuthorization/
importAuthorization/exportLoginToken/acceptLoginToken/importLoginToken and
account.getPassword (real SRP: the server verifies
Telethon's ``compute_check`` answer), messages.getForumTopics/getReplies/
getDiscussionMessage (below; on the plain channel CHANNEL_FORUM_MISSING and
MSG_ID_INVALID). Anything else answers 400 INPUT_METHOD_INVALID (and logs a
warning).

Forum topics and comments (off by default; the plain channel is unchanged)
==========================================================================
``forum_topics=N`` makes the chat a forum supergroup (``megagroup``,
``forum``) over the same seeded messages: General (id 1, no ``reply_to``) and
N topics, each created by a ``messageActionTopicCreate`` service message
whose id is the topic's id; topic messages carry ``reply_to(forum_topic=True,
reply_to_msg_id=topic)`` (``reply_to_top_id=topic`` when replying inside it);
albums stay in one topic; the last topic is empty; senders are member users.
It answers messages.getForumTopics (by last message date, paged by
offset_date/offset_id/offset_topic, ``q``) and messages.getReplies(msg_id=
topic), so ``iter_messages(chat, reply_to=topic_id)`` works.
``sim.topics()`` / ``sim.topic(id)`` give (id, title, message_ids); see
`forum`.

``comments=True`` links a discussion supergroup (``sim.discussion_id``) to the
channel: ``channels.getFullChannel`` gives ``linked_chat_id`` and the group
(per-account access hash); every post is copied into the group (``fwd_from``
channel_post/saved_from_peer/saved_from_msg_id: the thread's root) and
carries ``replies(comments=True, channel_id=group)``; comments (text, photos,
videos, documents, albums of 2-10, one thread of 230) reply to the root.
messages.getDiscussionMessage and messages.getReplies(channel, post) answer
with the group's messages, so ``iter_messages(channel, reply_to=post_id)``
and ``download_media(comment)`` work; the group also answers getChannels,
getFullChannel, getMessages and getHistory. ``sim.threads()`` /
``sim.thread(post_id)`` give (post_ids, root_ids, comment_ids);
``sim.discussion_messages``, ``sim.message(id, chat_id=sim.discussion_id)``
and ``sim.file_sha256(id, chat_id=sim.discussion_id)`` the group's content
and files; see `discussion`. The two options exclude each other.

More channels (none by default; the main chat is unchanged)
===========================================================
``more_channels=["second_chan", ("third_chan", 60), ExtraChannel("fourth_chan", 40, first_id=1000,
seed=99)]`` adds plain public broadcast channels next to the main chat (a plain channel, a forum or a
channel with comments): a username alone has as many messages as the main channel, ``(username, n)`` n
messages, `ExtraChannel` also sets the first id, the content seed (default: derived from the simulator
seed and the username) and the id. Each has its own username (a letter, then 3-31 letters, digits or
underscores; not another chat's), its own id (derived like the main channel's from the seed and its
username, never another chat's, discussion group included), its own content from ``generate_messages``
with its seed (so its documents' ids are its own: a channel shares a document with another only when given
the same content seed on purpose; a shared id with a different file is refused) and its own access hash
per account (another account's or another channel's hash -> CHANNEL_INVALID). Every account is a member
of every extra channel: it is in every account's dialogs, dated by its last message, so ``t.me/c/<id>`` and
``-100<id>`` find it like the main channel. It answers exactly what the plain main channel answers:
contacts.resolveUsername, channels.getChannels (mixed with the main chat or the discussion group too),
getFullChannel, getMessages (<= 200 ids, deleted -> ``MessageEmpty``), messages.getHistory, the thread
requests (CHANNEL_FORUM_MISSING / MSG_ID_INVALID) and upload.getFile of its files (same byte source,
references, faults and DCs). Requests are routed by the channel id they carry to that channel's own
`Server` (see `chats`). ``sim.channels`` lists (username, id) of every channel, main first;
``sim.chat_messages(username_or_id)``, ``sim.message(id, chat_id)``, ``sim.media_messages(chat_id)``,
``sim.read_file(..., chat_id=)`` and ``sim.file_sha256(id, chat_id)`` read any chat's content and files;
``rpc_counts`` still counts per account and method (all chats together).

Login: ``sim.unauthorized_client(name)`` is not signed in (calls fail 401
AUTH_KEY_UNREGISTERED); ``send_code_request(phone)`` then ``sign_in(phone,
code=login_code)`` signs it in as account ``name``; with ``password`` set,
sign_in raises SessionPasswordNeededError and ``sign_in(password=...)``
finishes. QR login (see `qr`): auth.exportLoginToken gives a token valid
``login_token_ttl`` seconds (30); ``await sim.scan_login_token(url_or_token,
by=name)`` accepts it like a logged-in app (auth.acceptLoginToken; a client
can also send that request itself) and pushes updateShort(updateLoginToken) to
the waiting client's update loop; its next export answers loginTokenSuccess
(the session is now ``by``'s), or loginTokenMigrateTo + importLoginToken when
``dc_id`` is not the client's DC; with ``password`` SESSION_PASSWORD_NEEDED.

Faults
======
See `faults` for the grammar (``flood``, ``expire``, ``premium``
(FLOOD_PREMIUM_WAIT on getFile), ``drop``, ``timeout``, ``revoke``,
``deactivate``; comma-separated; ``@account`` restricts a rule).
Plus ``sim.revoke(name)`` / ``sim.deactivate(name)`` at any time.

Telethon behaviour the downloader must handle (observed here)
=============================================================
- FLOOD_WAIT <= ``flood_sleep_threshold`` (60 s) is slept and retried inside
  ``_call``; a longer one raises ``FloodWaitError`` (``.seconds``); FLOOD_WAIT_0
  is slept as 1 s. ``request_retries`` (5) means 6 attempts: a burst of >= 6
  floods on one call ends in ``ValueError('Request was unsuccessful 6
  time(s)')``, not a FloodWaitError.
- A dropped connection surfaces as the builtin ``ConnectionError`` from the
  awaited call; the client stays connected and the next call works. After a
  hard drop (``drop:...:hard``; Telethon gave up reconnecting)
  ``client.is_connected()`` is False and every call raises ``ConnectionError``
  until ``await client.connect()``.
- A request that is never answered hangs forever: Telethon has no per-request
  timeout, so wrap calls in ``asyncio.wait_for``.
- ``iter_download(document_or_photo)`` uses the object's ``dc_id`` and borrows
  an exported sender for it directly; ``download_media`` and
  ``iter_download(InputDocumentFileLocation)`` without ``dc_id`` hit
  ``FILE_MIGRATE_X`` first and then switch senders transparently.
- ``FileReferenceExpiredError`` escapes ``iter_download`` (and photo downloads);
  only ``download_media(message)`` of a *document* re-fetches the message
  itself. Cure: re-fetch with ``channels.GetMessages`` and continue from the
  byte offset reached.
- Comments from ``iter_messages(channel, reply_to=post)`` live in the
  discussion group (``peer_id``, ``chat_id``) but Telethon sets their
  ``input_chat`` to the channel, and ``download_media`` re-fetches an expired
  document reference from ``input_chat``: it gets the channel's message of
  that id and re-raises FileReferenceExpiredError. Re-fetch a comment from
  its ``peer_id``.
- Revocation: ``AuthKeyUnregisteredError`` / ``UserDeactivatedError`` (both
  ``UnauthorizedError``); ``is_user_authorized()`` is cached by Telethon and
  keeps returning True, ``get_me()`` returns None.
"""

from .chats import ExtraChannel
from .content import SimMessage
from .faults import FaultPlan, FaultRule, parse_faults
from .sender import FakeSender
from .simulated import SimClient, SimulatedTelegram

__all__ = [
    "ExtraChannel",
    "FakeSender",
    "FaultPlan",
    "FaultRule",
    "SimClient",
    "SimMessage",
    "SimulatedTelegram",
    "parse_faults",
]

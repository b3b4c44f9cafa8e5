"""Conversations, their messages and their chats (Coze's model: a chat is one turn of a bot).

Key design (every request path is a GetItem or a Query):
- Conversation: pk conversation_id; GSI owner_bot_index (owner_bot = "owner#bot", conversation_id)
  lists an owner's conversations of one bot, newest first (IDs are time-ordered).
- Message: pk conversation_id, sk message_id: a conversation's messages in time order, and
  before_id / after_id are key conditions. GSI chat_index (chat_id, message_id) lists one chat's.
- Chat: pk conversation_id, sk chat_id.
Every item carries owner_id; callers check it and answer 404 for anyone else's.
`section_id` marks the conversation's context: "clear" starts a new section, and the bot's
memory reads only messages of the current section; old ones stay readable.
"""

from __future__ import annotations

from pynamodb.attributes import MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from agentgate import ids
from agentgate.ids import new_id, now_s
from agentgate.store.base import register


def owner_bot_key(owner_id: str, bot_id: str) -> str:
    return f"{owner_id}#{bot_id}"


class OwnerBotIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "owner_bot_index"
        projection = AllProjection()

    owner_bot = UnicodeAttribute(hash_key=True)
    conversation_id = UnicodeAttribute(range_key=True)


@register(lambda s: s.conversations_table)
class Conversation(Model):
    class Meta:
        table_name = "agentgate-conversations"

    conversation_id = UnicodeAttribute(hash_key=True)
    owner_id = UnicodeAttribute()
    bot_id = UnicodeAttribute()
    owner_bot = UnicodeAttribute()
    user_id = UnicodeAttribute(null=True)
    name = UnicodeAttribute(null=True)  # Coze's optional conversation name
    section_id = UnicodeAttribute()
    meta_data = MapAttribute(default=dict)
    # Set for server-side memory sessions (OpenAI `sessionId` / `thread_id`), else absent.
    session_key = UnicodeAttribute(null=True)
    created_at = NumberAttribute()  # seconds, as Coze answers
    updated_at = NumberAttribute()

    owner_bot_index = OwnerBotIndex()


class ChatIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "chat_index"
        projection = AllProjection()

    chat_id = UnicodeAttribute(hash_key=True)
    message_id = UnicodeAttribute(range_key=True)


@register(lambda s: s.messages_table)
class Message(Model):
    class Meta:
        table_name = "agentgate-messages"

    conversation_id = UnicodeAttribute(hash_key=True)
    message_id = UnicodeAttribute(range_key=True)
    owner_id = UnicodeAttribute()
    bot_id = UnicodeAttribute(null=True)
    chat_id = UnicodeAttribute(null=True)
    section_id = UnicodeAttribute(null=True)
    role = UnicodeAttribute()  # user | assistant
    type = UnicodeAttribute(default="question")  # question | answer | function_call | ...
    content = UnicodeAttribute(default="")
    content_type = UnicodeAttribute(default="text")  # text | object_string | card
    meta_data = MapAttribute(default=dict)
    # complete | partial (the stream broke or was cancelled: what was produced is kept)
    status = UnicodeAttribute(default="complete")
    created_at = NumberAttribute()
    updated_at = NumberAttribute()

    chat_index = ChatIndex()


@register(lambda s: s.chats_table)
class Chat(Model):
    class Meta:
        table_name = "agentgate-chats"

    conversation_id = UnicodeAttribute(hash_key=True)
    chat_id = UnicodeAttribute(range_key=True)
    owner_id = UnicodeAttribute()
    bot_id = UnicodeAttribute()
    user_id = UnicodeAttribute(null=True)
    section_id = UnicodeAttribute(null=True)
    # created | in_progress | completed | failed | requires_action | canceled
    status = UnicodeAttribute(default="created")
    meta_data = MapAttribute(default=dict)
    last_error = MapAttribute(null=True)  # {code, msg}
    usage = MapAttribute(null=True)  # {token_count, output_count, input_count}
    required_action = MapAttribute(null=True)
    cancel_requested = NumberAttribute(default=0)
    created_at = NumberAttribute()
    completed_at = NumberAttribute(null=True)
    failed_at = NumberAttribute(null=True)


# ----------------------------------------------------------------------------- conversations
# Sections: a conversation's current section is an ID from the same time-ordered generator as
# message IDs, so "messages of the current section" is simply message_id > section_id: one
# Query with a key condition, no filter. "clear" moves section_id to a fresh ID.


def session_conversation_id(owner_id: str, bot_id: str, session_key: str) -> str:
    """The conversation holding an OpenAI-surface memory session (seed 000 sessionId, seed 003
    thread_id). Derived, so the history Query needs no lookup first."""
    import hashlib

    digest = hashlib.sha256(f"{owner_id}\x00{bot_id}\x00{session_key}".encode()).hexdigest()[:32]
    return f"sess_{digest}"


def plain(value) -> dict:
    """A stored map (PynamoDB hands back MapAttribute objects for raw maps) as a plain dict."""
    if value is None:
        return {}
    if isinstance(value, MapAttribute):
        return value.as_dict()
    return dict(value)


def create_conversation(owner_id: str, bot_id: str, *, user_id: str | None = None, meta_data: dict | None = None,
                        conversation_id: str | None = None, session_key: str | None = None,
                        name: str | None = None) -> Conversation:
    now = now_s()
    cid = conversation_id or new_id()
    conv = Conversation(
        conversation_id=cid,
        owner_id=owner_id,
        bot_id=bot_id,
        owner_bot=owner_bot_key(owner_id, bot_id),
        user_id=user_id,
        name=name,
        section_id=cid if ids.is_id(cid) else "0",
        meta_data=dict(meta_data or {}),
        session_key=session_key,
        created_at=now,
        updated_at=now,
    )
    conv.save(condition=Conversation.conversation_id.does_not_exist())
    return conv


def get_conversation(owner_id: str, conversation_id: str) -> Conversation | None:
    """The owner's conversation, or None (unknown or someone else's: callers answer 404)."""
    try:
        conv = Conversation.get(conversation_id)
    except DoesNotExist:
        return None
    return conv if conv.owner_id == owner_id else None


def list_conversations(owner_id: str, bot_id: str, page_num: int, page_size: int,
                       user_id: str | None = None, *, newest_first: bool = True) -> tuple[list[Conversation], bool]:
    """One page of an owner's conversations with a bot, newest first, and whether more follow.

    One Query on owner_bot_index (IDs are time-ordered); it stops reading once the page is full.
    """
    condition = Conversation.user_id == user_id if user_id else None
    skip = (page_num - 1) * page_size
    page: list[Conversation] = []
    for i, conv in enumerate(Conversation.owner_bot_index.query(
            owner_bot_key(owner_id, bot_id), scan_index_forward=not newest_first, filter_condition=condition)):
        if i < skip:
            continue
        if len(page) == page_size:
            return page, True
        page.append(conv)
    return page, False


def clear_conversation(conv: Conversation) -> Conversation:
    """Start a new section: the bot forgets what came before; old messages stay readable."""
    conv.update(actions=[Conversation.section_id.set(new_id()), Conversation.updated_at.set(now_s())])
    return conv


def update_conversation(conv: Conversation, *, name: str | None = None, meta_data: dict | None = None) -> Conversation:
    actions = [Conversation.updated_at.set(now_s())]
    if name is not None:
        actions.append(Conversation.name.set(name))
    if meta_data is not None:
        actions.append(Conversation.meta_data.set(meta_data))
    conv.update(actions=actions)
    return conv


def touch_conversation(conv: Conversation) -> None:
    conv.update(actions=[Conversation.updated_at.set(now_s())])


def conversation_exists(conversation_id: str) -> bool:
    """Whether the conversation is still there (a consistent read: a delete is seen at once)."""
    try:
        Conversation.get(conversation_id, consistent_read=True)
    except DoesNotExist:
        return False
    return True


def delete_conversation(conv: Conversation) -> None:
    """Delete a conversation with its messages and chats.

    The conversation item goes first, then a consistent sweep of its messages and chats. A turn
    still running elsewhere writes and then checks `conversation_exists` (chat.service): a write
    before the sweep is swept, one after it sees the conversation gone and removes itself, so
    nothing is left behind in a deleted conversation.
    """
    conv.delete()
    with Message.batch_write() as batch:
        for msg in Message.query(conv.conversation_id, consistent_read=True):
            batch.delete(msg)
    with Chat.batch_write() as batch:
        for chat in Chat.query(conv.conversation_id, consistent_read=True):
            batch.delete(chat)


def delete_turn(conversation_id: str, message_ids: list[str], chat_id: str | None) -> None:
    """Remove what one turn wrote (its questions, answer and chat): it raced a delete."""
    with Message.batch_write() as batch:
        for message_id in message_ids:
            batch.delete(Message(conversation_id=conversation_id, message_id=message_id))
    if chat_id:
        Chat(conversation_id=conversation_id, chat_id=chat_id).delete()


# ----------------------------------------------------------------------------- messages


def add_message(owner_id: str, conversation_id: str, *, role: str, content: str, type: str,
                content_type: str = "text", bot_id: str | None = None, chat_id: str | None = None,
                section_id: str | None = None, meta_data: dict | None = None, status: str = "complete",
                message_id: str | None = None) -> Message:
    now = now_s()
    msg = Message(
        conversation_id=conversation_id,
        message_id=message_id or new_id(),
        owner_id=owner_id,
        bot_id=bot_id,
        chat_id=chat_id,
        section_id=section_id,
        role=role,
        type=type,
        content=content,
        content_type=content_type,
        meta_data=dict(meta_data or {}),
        status=status,
        created_at=now,
        updated_at=now,
    )
    msg.save()
    return msg


def add_messages(owner_id: str, conversation_id: str, messages: list[dict], *, bot_id: str | None = None,
                 section_id: str | None = None) -> list[Message]:
    """Several messages at once (a conversation's initial ones), in the given order, batch-written.

    Each dict holds role, content, type and optionally content_type and meta_data.
    """
    now = now_s()
    items = [Message(conversation_id=conversation_id, message_id=new_id(), owner_id=owner_id, bot_id=bot_id,
                     section_id=section_id, role=m["role"], type=m["type"], content=m["content"],
                     content_type=m.get("content_type") or "text", meta_data=dict(m.get("meta_data") or {}),
                     status="complete", created_at=now, updated_at=now)
             for m in messages]
    with Message.batch_write() as batch:
        for msg in items:
            batch.save(msg)
    return items


def get_message(owner_id: str, conversation_id: str, message_id: str) -> Message | None:
    try:
        msg = Message.get(conversation_id, message_id)
    except DoesNotExist:
        return None
    return msg if msg.owner_id == owner_id else None


def history(conversation_id: str, after_id: str, limit: int) -> list[Message]:
    """The last `limit` messages after `after_id` (the section start), oldest first: one Query."""
    if limit <= 0:
        return []
    newest_first = list(Message.query(conversation_id, Message.message_id > after_id,
                                      scan_index_forward=False, limit=limit))
    return newest_first[::-1]


def list_messages(owner_id: str, conversation_id: str, *, order: str = "desc", chat_id: str | None = None,
                  before_id: str | None = None, after_id: str | None = None, limit: int = 50
                  ) -> tuple[list[Message], bool]:
    """A page of a conversation's messages in `order` ("asc" | "desc"), and whether more follow.

    Cursors are positions in the listing order, as Coze (and cozepy's pager, which asks for
    after_id=last_id) and OpenAI read them: after_id X is the page that follows X, before_id X
    the page that precedes X, both returned in `order`; with both, what lies between them,
    from after_id on. `has_more` says whether more lie beyond the page in the direction of
    travel. The cursors are key conditions on the time-ordered message_id, so a walk neither
    skips nor repeats while new messages arrive. With chat_id, only that chat's messages.
    """
    if limit <= 0:
        return [], False
    asc = order == "asc"
    # Key-space bounds (exclusive): in ascending order "after" is the lower bound.
    low, high = (after_id, before_id) if asc else (before_id, after_id)
    # Paging back from before_id alone reads away from it, then flips the page into `order`.
    backwards = bool(before_id) and not after_id
    forward = asc != backwards
    if low and high:
        if low >= high:
            return [], False
        condition = Message.message_id.between(low, high)  # inclusive: the cursors are dropped below
    elif low:
        condition = Message.message_id > low
    elif high:
        condition = Message.message_id < high
    else:
        condition = None
    fetch = limit + 1 + (2 if low and high else 0)
    if chat_id:
        rows = Message.chat_index.query(chat_id, condition, scan_index_forward=forward, limit=fetch)
    else:
        rows = Message.query(conversation_id, condition, scan_index_forward=forward, limit=fetch)
    items = [m for m in rows
             if m.owner_id == owner_id and m.conversation_id == conversation_id
             and m.message_id not in (low, high)]
    page = items[:limit]
    if backwards:
        page.reverse()
    return page, len(items) > limit


def update_message(msg: Message, *, content: str | None = None, content_type: str | None = None,
                   meta_data: dict | None = None, status: str | None = None) -> Message:
    actions = [Message.updated_at.set(now_s())]
    if content is not None:
        actions.append(Message.content.set(content))
    if content_type is not None:
        actions.append(Message.content_type.set(content_type))
    if meta_data is not None:
        actions.append(Message.meta_data.set(meta_data))
    if status is not None:
        actions.append(Message.status.set(status))
    msg.update(actions=actions)
    return msg


def delete_message(msg: Message) -> None:
    msg.delete()


def delete_messages(conversation_id: str) -> int:
    """Forget a whole conversation's messages (a memory session's clear)."""
    count = 0
    with Message.batch_write() as batch:
        for msg in Message.query(conversation_id):
            batch.delete(msg)
            count += 1
    return count


# ----------------------------------------------------------------------------- chats


def create_chat(owner_id: str, conversation_id: str, bot_id: str, *, user_id: str | None = None,
                section_id: str | None = None, meta_data: dict | None = None, status: str = "created",
                chat_id: str | None = None) -> Chat:
    chat = Chat(
        conversation_id=conversation_id,
        chat_id=chat_id or new_id(),
        owner_id=owner_id,
        bot_id=bot_id,
        user_id=user_id,
        section_id=section_id,
        status=status,
        meta_data=dict(meta_data or {}),
        cancel_requested=0,
        created_at=now_s(),
    )
    chat.save()
    return chat


def get_chat(owner_id: str, conversation_id: str, chat_id: str, consistent: bool = False) -> Chat | None:
    try:
        chat = Chat.get(conversation_id, chat_id, consistent_read=consistent)
    except DoesNotExist:
        return None
    return chat if chat.owner_id == owner_id else None


TERMINAL_STATUSES = ("completed", "failed", "canceled", "requires_action")


def finish_chat(chat: Chat, status: str, *, usage: dict | None = None, last_error: dict | None = None,
                required_action: dict | None = None) -> Chat:
    """Move a chat to a final status. A chat already canceled stays canceled."""
    now = now_s()
    actions = [Chat.status.set(status)]
    if status == "failed":
        actions.append(Chat.failed_at.set(now))
    else:
        actions.append(Chat.completed_at.set(now))
    if usage is not None:
        actions.append(Chat.usage.set(usage))
    if last_error is not None:
        actions.append(Chat.last_error.set(last_error))
    if required_action is not None:
        actions.append(Chat.required_action.set(required_action))
    # Never recreate a deleted chat (an update is an upsert), and a canceled chat stays canceled.
    condition = Chat.chat_id.exists()
    if status != "canceled":
        condition &= Chat.status != "canceled"
    try:
        chat.update(actions=actions, condition=condition)
    except UpdateError as err:
        if err.cause_response_code != "ConditionalCheckFailedException":
            raise
        _refresh(chat)
    return chat


def _refresh(chat: Chat) -> None:
    try:
        chat.refresh(consistent_read=True)
    except DoesNotExist:  # deleted with its conversation meanwhile
        pass


def set_chat_status(chat: Chat, status: str) -> Chat:
    """Move a live chat along (created -> in_progress); a canceled chat stays canceled."""
    try:
        chat.update(actions=[Chat.status.set(status)], condition=Chat.chat_id.exists() & (Chat.status != "canceled"))
    except UpdateError as err:
        if err.cause_response_code != "ConditionalCheckFailedException":
            raise
        _refresh(chat)
    return chat


def request_cancel(chat: Chat) -> Chat:
    """Mark a chat canceled; the generator watching it stops and keeps what it produced."""
    try:
        chat.update(actions=[Chat.cancel_requested.set(1), Chat.status.set("canceled"),
                             Chat.completed_at.set(now_s())], condition=Chat.chat_id.exists())
    except UpdateError as err:
        if err.cause_response_code != "ConditionalCheckFailedException":
            raise  # else: deleted with its conversation meanwhile: nothing left to cancel
    return chat

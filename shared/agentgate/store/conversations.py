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
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

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

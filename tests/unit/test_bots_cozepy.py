"""The bots API through cozepy itself, unchanged: its requests and its parsing of our answers.

cozepy takes an httpx.Client as its http_client. Starlette's TestClient is built on `httpx2`
while cozepy builds `httpx` requests, so the TestClient cannot be handed over directly: a small
httpx transport forwards each request to it instead. cozepy calls `client.send` on requests it
built itself, which skips a client's default headers, so the principal rides on a TokenAuth subclass.
"""

from __future__ import annotations

import pytest
from cozepy import Coze, CozeAPIError
from cozepy.bots import BotModelInfo, BotOnboardingInfo, BotPromptInfo, PublishStatus

from agentgate import ids
from agentgate.api.bots import app
from cozepy_asgi import coze_for


@pytest.fixture
def coze(aws, as_owner):
    def make(owner: str = "alice", scopes: str = "admin") -> Coze:
        return coze_for(app, as_owner(owner, scopes))

    return make


def test_lifecycle_through_cozepy(coze):
    admin = coze()
    created = admin.bots.create(
        space_id="7350000000000000001",
        name="Support",
        description="helps",
        prompt_info=BotPromptInfo(prompt="v1"),
        onboarding_info=BotOnboardingInfo(prologue="Hello", suggested_questions=["Why?"]),
        model_info_config=BotModelInfo(model_id="echo", temperature=0.2, max_tokens=256),
    )
    bot_id = created.bot_id
    assert ids.is_id(bot_id) and int(bot_id) <= 2**53 - 1

    with pytest.raises(CozeAPIError) as err:
        admin.bots.retrieve(bot_id=bot_id)  # v1: /v1/bot/get_online_info
    assert err.value.code == 404 and err.value.msg == "bot not found or not published"
    assert err.value.logid  # x-tt-logid

    published = admin.bots.publish(bot_id=bot_id)
    assert (published.bot_id, published.version) == (bot_id, "1")

    bot = admin.bots.retrieve(bot_id=bot_id)
    assert (bot.name, bot.description, bot.version) == ("Support", "helps", "1")
    assert bot.prompt_info.prompt == "v1"
    assert bot.onboarding_info.prologue == "Hello" and bot.onboarding_info.suggested_questions == ["Why?"]
    assert bot.model_info.model_id == "echo" and bot.model_info.temperature == 0.2
    assert bot.model_info.max_tokens == 256
    assert bot.owner_user_id == "alice" and bot.create_time and bot.update_time

    admin.bots.update(bot_id=bot_id, prompt_info=BotPromptInfo(prompt="v2"))
    assert admin.bots.retrieve(bot_id=bot_id).prompt_info.prompt == "v1"
    draft = admin.bots.retrieve(bot_id=bot_id, is_published=False, use_api_version=2)
    assert draft.prompt_info.prompt == "v2"

    assert admin.bots.publish(bot_id=bot_id).version == "2"
    online = admin.bots.retrieve(bot_id=bot_id, is_published=True, use_api_version=2)
    assert (online.version, online.prompt_info.prompt) == ("2", "v2")

    admin.bots.unpublish(bot_id=bot_id, connector_id="1024")
    with pytest.raises(CozeAPIError) as err:
        admin.bots.retrieve(bot_id=bot_id)
    assert err.value.code == 404


def test_list_through_cozepy_pages(coze):
    admin = coze()
    ids = []
    for i in range(5):
        bot_id = admin.bots.create(space_id="1", name=f"bot{i}").bot_id
        admin.bots.publish(bot_id=bot_id)
        ids.append(bot_id)
    admin.bots.create(space_id="1", name="draft-only")

    paged = admin.bots.list(space_id="1", page_size=2, use_api_version=2)
    assert paged.total == 5 and paged.has_more
    assert [b.id for b in paged.items] == [ids[4], ids[3]]
    assert [b.bot_id for b in paged] == list(reversed(ids))  # iterates every page
    first = paged.items[0]
    assert first.name == first.bot_name == "bot4" and first.is_published and first.owner_user_id == "alice"

    drafts = admin.bots.list(space_id="1", publish_status=PublishStatus.UNPUBLISHED_DRAFT, use_api_version=2)
    assert [b.name for b in drafts.items] == ["draft-only"] and not drafts.items[0].is_published
    everything = admin.bots.list(space_id="1", publish_status=PublishStatus.ALL, page_size=50, use_api_version=2)
    assert everything.total == 6 and not everything.has_more


def test_cozepy_sees_scope_and_owner_errors(coze):
    admin = coze()
    bot_id = admin.bots.create(space_id="1", name="mine").bot_id
    admin.bots.publish(bot_id=bot_id)

    with pytest.raises(CozeAPIError) as err:
        coze(scopes="chat").bots.create(space_id="1", name="nope")
    assert err.value.code == 403

    reader = coze(scopes="read")
    assert reader.bots.retrieve(bot_id=bot_id).name == "mine"
    with pytest.raises(CozeAPIError) as err:
        reader.bots.retrieve(bot_id=bot_id, is_published=False, use_api_version=2)
    assert err.value.code == 403

    with pytest.raises(CozeAPIError) as err:
        coze(owner="bob").bots.retrieve(bot_id=bot_id)
    assert err.value.code == 404

    with pytest.raises(CozeAPIError) as err:
        admin.bots.create(space_id="1", name="x" * 101)
    assert err.value.code == 422


def test_default_v1_list_through_cozepy(coze):
    """cozepy's bots.list() without use_api_version calls /v1/space/published_bots_list."""
    admin = coze()
    ids = []
    for i in range(3):
        bot_id = admin.bots.create(space_id="1", name=f"v1bot{i}", description="d").bot_id
        admin.bots.publish(bot_id=bot_id)
        ids.append(bot_id)
    admin.bots.create(space_id="1", name="never published")

    paged = admin.bots.list(space_id="1", page_size=2)
    assert paged.total == 3
    assert [b.id for b in paged] == list(reversed(ids))  # walks both pages
    assert all(b.is_published and b.published_at for b in paged.items)
    # Another owner's key sees none of them.
    assert coze("mallory", "read").bots.list(space_id="1").total == 0

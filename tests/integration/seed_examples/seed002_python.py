# Seed 002 ("发布智能体为 API 服务"): its three Python examples (1. 非流式调用, 2. 流式调用, 3. SDK 封装示例),
# verbatim and in order, as one module (the second uses the first's API_BASE_URL and API_KEY).
# tests/integration/test_seed_examples.py points API_BASE_URL (and base_url) at the local gateway and
# registers API_KEY as a chosen key; nothing else differs from the seed.

# 1. 非流式调用
import requests

API_BASE_URL = "http://localhost:8888"
API_KEY = "pat_abc123def456ghi789jkl012mno345pqr678stu901vwx234yz"

def chat(bot_id, query, conversation_id=None):
    """
    调用聊天接口
    """
    url = f"{API_BASE_URL}/v3/chat"
    headers = {
        "Authorization": f"Bearer {API_KEY}",
        "Content-Type": "application/json"
    }

    payload = {
        "bot_id": bot_id,
        "query": query,
        "stream": False
    }

    if conversation_id:
        payload["conversation_id"] = conversation_id

    response = requests.post(url, headers=headers, json=payload)
    response.raise_for_status()

    return response.json()

# 使用示例
if __name__ == "__main__":
    result = chat(
        bot_id=123456,
        query="你好,请介绍一下你的功能"
    )
    print(result)

# 2. 流式调用
import json

def chat_stream(bot_id, query, conversation_id=None):
    """
    流式调用聊天接口
    """
    url = f"{API_BASE_URL}/v3/chat"
    headers = {
        "Authorization": f"Bearer {API_KEY}",
        "Content-Type": "application/json",
        "Accept": "text/event-stream"
    }

    payload = {
        "bot_id": bot_id,
        "query": query,
        "stream": True
    }

    if conversation_id:
        payload["conversation_id"] = conversation_id

    response = requests.post(
        url,
        headers=headers,
        json=payload,
        stream=True
    )
    response.raise_for_status()

    # 处理 SSE 流
    for line in response.iter_lines():
        if line:
            line = line.decode('utf-8')
            if line.startswith('data:'):
                data = line[5:].strip()
                if data == '[DONE]':
                    break
                try:
                    event_data = json.loads(data)
                    yield event_data
                except json.JSONDecodeError:
                    continue

# 使用示例
if __name__ == "__main__":
    for event in chat_stream(
        bot_id=123456,
        query="讲一个故事"
    ):
        if event.get('type') == 'answer':
            print(event.get('content', ''), end='', flush=True)
    print()

# 3. SDK 封装示例
from typing import Optional, Dict, Any, Iterator
import json

class CozePlusClient:
    """
    Coze Plus API 客户端
    """

    def __init__(self, api_key: str, base_url: str = "http://localhost:8888"):
        self.api_key = api_key
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers.update({
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json"
        })

    def chat(
        self,
        bot_id: int,
        query: str,
        conversation_id: Optional[str] = None,
        user_id: Optional[str] = None,
        stream: bool = False,
        parameters: Optional[Dict[str, Any]] = None
    ) -> Any:
        """
        调用聊天接口
        """
        url = f"{self.base_url}/v3/chat"

        payload = {
            "bot_id": bot_id,
            "query": query,
            "stream": stream
        }

        if conversation_id:
            payload["conversation_id"] = conversation_id
        if user_id:
            payload["user_id"] = user_id
        if parameters:
            payload["parameters"] = parameters

        if stream:
            return self._chat_stream(url, payload)
        else:
            response = self.session.post(url, json=payload)
            response.raise_for_status()
            return response.json()

    def _chat_stream(self, url: str, payload: Dict) -> Iterator[Dict]:
        """
        处理流式响应
        """
        headers = {"Accept": "text/event-stream"}
        response = self.session.post(url, json=payload, headers=headers, stream=True)
        response.raise_for_status()

        for line in response.iter_lines():
            if line:
                line = line.decode('utf-8')
                if line.startswith('data:'):
                    data = line[5:].strip()
                    if data == '[DONE]':
                        break
                    try:
                        yield json.loads(data)
                    except json.JSONDecodeError:
                        continue

    def get_bot_info(self, bot_id: int) -> Dict:
        """
        获取 Bot 信息
        """
        url = f"{self.base_url}/v1/bot/get_online_info"
        params = {"bot_id": bot_id}
        response = self.session.get(url, params=params)
        response.raise_for_status()
        return response.json()

    def upload_file(self, file_path: str) -> Dict:
        """
        上传文件
        """
        url = f"{self.base_url}/v1/files/upload"
        with open(file_path, 'rb') as f:
            files = {'file': f}
            response = self.session.post(url, files=files)
            response.raise_for_status()
            return response.json()

    def create_conversation(self, bot_id: int, user_id: Optional[str] = None) -> Dict:
        """
        创建会话
        """
        url = f"{self.base_url}/v1/conversation/create"
        payload = {"bot_id": bot_id}
        if user_id:
            payload["user_id"] = user_id

        response = self.session.post(url, json=payload)
        response.raise_for_status()
        return response.json()

    def list_conversations(
        self,
        bot_id: int,
        user_id: Optional[str] = None
    ) -> Dict:
        """
        获取会话列表
        """
        url = f"{self.base_url}/v1/conversations"
        params = {"bot_id": bot_id}
        if user_id:
            params["user_id"] = user_id

        response = self.session.get(url, params=params)
        response.raise_for_status()
        return response.json()

# 使用示例
if __name__ == "__main__":
    client = CozePlusClient(
        api_key="pat_abc123def456ghi789jkl012mno345pqr678stu901vwx234yz"
    )

    # 非流式调用
    result = client.chat(bot_id=123456, query="你好")
    print(result)

    # 流式调用
    for event in client.chat(bot_id=123456, query="讲个故事", stream=True):
        if event.get('type') == 'answer':
            print(event.get('content', ''), end='', flush=True)
    print()

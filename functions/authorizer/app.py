"""Lambda REQUEST authorizer: Authorization header -> MD5 -> one GetItem -> allow */* or deny."""

from aws_lambda_powertools import Logger

from agentgate.auth.authorizer import handle

logger = Logger(service="agentgate-authorizer")


@logger.inject_lambda_context(log_event=False)  # the event holds the key: never log it
def handler(event, context):
    return handle(event, context)

#!/bin/bash
# Started by the AWS Lambda Web Adapter (AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap). uvicorn serves
# the workflows app; the adapter streams its response through Lambda response streaming.
PATH=/var/runtime:/var/lang/bin:$PATH
export PYTHONPATH=/opt/python:/var/task:$PYTHONPATH
exec python -m uvicorn --host 127.0.0.1 --port "${PORT:-8000}" --no-access-log --timeout-keep-alive 300 app:app

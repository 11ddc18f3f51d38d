#!/bin/bash
# bench/cli_curl.sh: what the cli figure compares the `falcon` command with: curl fetching a token, making
# the same query and revoking the token (FALCON_CLIENT_ID, FALCON_CLIENT_SECRET, FALCON_BASE_URL).
set -e
tok=$(curl -sS -X POST --data-urlencode "client_id=$FALCON_CLIENT_ID" --data-urlencode "client_secret=$FALCON_CLIENT_SECRET" "$FALCON_BASE_URL/oauth2/token" | sed -n 's/.*"access_token": *"\([^"]*\)".*/\1/p')
curl -sS -f -H "Authorization: Bearer $tok" "$FALCON_BASE_URL/message-center/queries/cases/v1?limit=2" >/dev/null
curl -sS -f -u "$FALCON_CLIENT_ID:$FALCON_CLIENT_SECRET" --data-urlencode "token=$tok" "$FALCON_BASE_URL/oauth2/revoke" >/dev/null

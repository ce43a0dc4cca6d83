#!/usr/bin/env bash
# Roll the application of one environment back (or forward) to an image already in ECR, then
# smoke-test it. Only the application stack changes: queues, database and alarms stay.
#
#   deploy/rollback.sh <env> <image-tag>
set -euo pipefail
[[ $# -eq 2 ]] || { echo "usage: $0 <env> <image-tag>" >&2; exit 2; }
ENV_NAME=$1
IMAGE_TAG=$2
HERE=$(cd "$(dirname "$0")" && pwd)
: "${AWS_REGION:?set AWS_REGION}"
role=()
[[ -n ${CFN_ROLE_ARN:-} ]] && role=(--role-arn "$CFN_ROLE_ARN")
STACK="insight-invest-${ENV_NAME}-app"

aws ecr describe-images --repository-name "${IMAGE_REPOSITORY:-insight-invest}" \
  --image-ids "imageTag=$IMAGE_TAG" >/dev/null
# `cloudformation deploy` keeps every parameter not named here at its current value.
aws cloudformation deploy --stack-name "$STACK" --template-file "$HERE/templates/app.yaml" \
  --parameter-overrides "ImageTag=$IMAGE_TAG" --capabilities CAPABILITY_NAMED_IAM \
  --no-fail-on-empty-changeset "${role[@]}"
"$HERE/scripts/smoke.sh" "$(aws cloudformation describe-stacks --stack-name "$STACK" \
  --query "Stacks[0].Outputs[?OutputKey=='ApiUrl'].OutputValue" --output text)"

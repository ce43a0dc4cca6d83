#!/usr/bin/env bash
# Deploy or update every Insight-Invest stack of one environment, in dependency order, each
# through a CloudFormation change set; then smoke-test /health/ready and roll the application
# stack back to the image it ran before if the smoke test fails.
#
#   deploy/deploy.sh <env> [image-tag]        (image tag defaults to the current git commit)
#
# Environment: AWS_REGION (required); CFN_ROLE_ARN (role CloudFormation acts with, from
# bootstrap.yaml); ALARM_EMAIL, SLACK_WEBHOOK_URL (monitoring, kept from the previous deploy
# when unset); SKIP_SMOKE=1 to skip the smoke test. Per-environment parameter overrides:
# deploy/params/<env>/<stack>.params, one Key=Value a line (PARAMS_DIR replaces deploy/params).
#
# Switching network.yaml's TaskEgress from nat-gateway to public-ip takes two network updates:
# the first keeps the NAT gateway (RetainNatGateway=true) so the running tasks keep their way
# out until the app update has moved them to the public subnets; the second, after app, removes
# it. The other direction needs no such step: the network update adds the NAT first.
set -euo pipefail

usage() { echo "usage: $0 <env> [image-tag]" >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 ]] || usage
ENV_NAME=$1
[[ $ENV_NAME =~ ^[a-z][a-z0-9-]{1,19}$ ]] || { echo "bad environment name: $ENV_NAME" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
IMAGE_TAG=${2:-$(git -C "$HERE" rev-parse HEAD)}
: "${AWS_REGION:?set AWS_REGION}"
export AWS_REGION AWS_DEFAULT_REGION=$AWS_REGION
IMAGE_REPOSITORY=${IMAGE_REPOSITORY:-insight-invest}
PARAMS_DIR=${PARAMS_DIR:-$HERE/params}
STACKS=(network data messaging app monitoring)

stack_name() { echo "insight-invest-${ENV_NAME}-$1"; }

stack_output() { # <stack> <output key>
  aws cloudformation describe-stacks --stack-name "$(stack_name "$1")" \
    --query "Stacks[0].Outputs[?OutputKey=='$2'].OutputValue" --output text 2>/dev/null || true
}

params_for() { # <stack> [extra Key=Value ...]
  local stack=$1; shift
  local file="$PARAMS_DIR/$ENV_NAME/$stack.params"
  echo "EnvName=$ENV_NAME"
  [[ -f $file ]] && grep -Ev '^\s*(#|$)' "$file"
  case $stack in
    app)
      echo "ImageTag=$IMAGE_TAG"; echo "ImageRepositoryName=$IMAGE_REPOSITORY"
      # SSM parameters network.yaml writes; app resolves them again on every update.
      echo "TaskSubnetIds=/insight-invest/$ENV_NAME/network/task-subnet-ids"
      echo "TaskAssignPublicIp=/insight-invest/$ENV_NAME/network/task-assign-public-ip" ;;
    monitoring)
      [[ -n ${ALARM_EMAIL:-} ]] && echo "AlarmEmail=$ALARM_EMAIL"
      [[ -n ${SLACK_WEBHOOK_URL:-} ]] && echo "SlackWebhookUrl=$SLACK_WEBHOOK_URL" ;;
  esac
  for extra in "$@"; do echo "$extra"; done
  return 0
}

deploy_stack() { # <stack> [extra Key=Value ...]: one change set, executed; CFN rolls back on failure
  local stack=$1; shift
  local -a params role=()
  mapfile -t params < <(params_for "$stack" "$@")
  [[ -n ${CFN_ROLE_ARN:-} ]] && role=(--role-arn "$CFN_ROLE_ARN")
  echo "==> $(stack_name "$stack")"
  aws cloudformation deploy \
    --stack-name "$(stack_name "$stack")" \
    --template-file "$HERE/templates/$stack.yaml" \
    --parameter-overrides "${params[@]}" \
    --capabilities CAPABILITY_NAMED_IAM \
    --no-fail-on-empty-changeset \
    --tags Project=insight-invest "Environment=$ENV_NAME" \
    "${role[@]}"
}

# The TaskEgress this deploy sets: the params file's, else the stack's current one (aws
# cloudformation deploy keeps a parameter's previous value), else the template's default.
requested_task_egress() {
  local file="$PARAMS_DIR/$ENV_NAME/network.params" value=""
  [[ -f $file ]] && value=$(sed -nE 's/^\s*TaskEgress=\s*([a-z-]+)\s*$/\1/p' "$file" | tail -n 1)
  [[ -z $value ]] && value=$(stack_output network TaskEgress)
  [[ -z $value || $value == None ]] && value=nat-gateway
  echo "$value"
}

# true while a NAT gateway must outlive this run's first network update: the environment goes
# to public-ip and still has one (also after a run that stopped between the two updates).
nat_gateway_retained() {
  local nat
  nat=$(stack_output network NatGatewayId)
  if [[ $(requested_task_egress) == public-ip && -n $nat && $nat != None ]]; then
    echo true
  else
    echo false
  fi
}

preflight() {
  aws ecr describe-images --repository-name "$IMAGE_REPOSITORY" \
    --image-ids "imageTag=$IMAGE_TAG" >/dev/null \
    || { echo "image $IMAGE_REPOSITORY:$IMAGE_TAG is not in ECR (build and push it first)" >&2; exit 1; }
  aws ssm get-parameter --name "/insight-invest/$ENV_NAME/fred-api-key" >/dev/null \
    || { echo "create the SecureString /insight-invest/$ENV_NAME/fred-api-key first (deploy/README.md)" >&2; exit 1; }
}

main() {
  preflight
  local previous_tag retain_nat
  previous_tag=$(stack_output app ImageTag)
  retain_nat=$(nat_gateway_retained)
  for stack in "${STACKS[@]}"; do
    if [[ $stack == network ]]; then
      # Always explicit: a value left out would be kept from the previous deploy.
      deploy_stack network "RetainNatGateway=$retain_nat"
    else
      deploy_stack "$stack"
    fi
  done
  if [[ $retain_nat == true ]]; then
    echo "tasks now run in the public subnets: removing the NAT gateway"
    deploy_stack network RetainNatGateway=false
  fi
  [[ ${SKIP_SMOKE:-0} == 1 ]] && return 0
  local api_url
  api_url=$(stack_output app ApiUrl)
  if ! "$HERE/scripts/smoke.sh" "$api_url"; then
    echo "smoke test failed for $IMAGE_TAG" >&2
    if [[ -n $previous_tag && $previous_tag != None && $previous_tag != "$IMAGE_TAG" ]]; then
      echo "rolling the application back to $previous_tag" >&2
      IMAGE_TAG=$previous_tag deploy_stack app
      "$HERE/scripts/smoke.sh" "$api_url" || echo "the rolled-back version is unhealthy too" >&2
    fi
    exit 1
  fi
  echo "deployed $IMAGE_TAG to $ENV_NAME: $api_url"
}

main

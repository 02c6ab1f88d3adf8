"""What to tell the user about each Serverless setting that has no multicloud equivalent: data, not code.

Each entry maps a key (of `provider:`, of a function, of an event, a plugin, an event kind) to
`(kind, what, todo)`: what is not carried over and what to do on each target instead. The converter looks
keys up here; a key found nowhere is still reported, with a generic text, so nothing is dropped silently.
"""

from __future__ import annotations

from typing import Literal

Kind = Literal["review", "info"]
Advice = tuple[Kind, str, str]

IAM: Advice = ("review", "IAM permissions are not carried over",
       "aws: multicloud gives each function a role that allows only its own triggers, logs and secrets; attach "
       "these statements to the role <service>-<stage>-<function> after deploying. azure/gcp: grant the "
       "function app's managed identity or the function's service account the same access. docker/local: the "
       "code uses the credentials you give the host or container")
VPC: Advice = ("review", "VPC placement is not carried over",
       "aws: multicloud deploys functions outside a VPC; resources that are reachable only inside one need a "
       "NAT or VPC endpoints, or keep this function on Serverless. azure: VNet integration of the function "
       "app. gcp: a Serverless VPC Access connector. docker/local: the host's network reaches private hosts")
LAYERS: Advice = ("review", "Lambda layers are not carried over",
          "add the layer's Python packages to requirements (or its files under `include:`); multicloud ships "
          "one package per service on every target")
CONCURRENCY: Advice = ("review", "concurrency limits are not carried over",
               "aws: set reserved/provisioned concurrency on the `live` alias after deploying. azure: Premium "
               "plan always-ready instances. gcp: min/max instances. docker/local: targets.<t>.concurrency")
ASYNC: Advice = ("review", "asynchronous-invocation settings (retries, destinations, event age) are not carried over",
         "aws: configure them on the function after deploying; the other targets have no asynchronous invoke")
TRACING: Advice = ("review", "tracing is not carried over",
           "aws: enable X-Ray on the function after deploying. azure: Application Insights. gcp: Cloud Trace")
LOGS: Advice = ("review", "log settings are not carried over",
        "aws: set the retention of log group /aws/lambda/<function> after deploying; the other targets keep "
        "logs their own way (`multicloud logs` reads them on every target)")
ALARMS: Advice = ("review", "alarms are not carried over",
          "create them in each cloud's monitoring (CloudWatch, Azure Monitor, Cloud Monitoring)")
DEPLOY_ONLY: Advice = ("info", "a Serverless deployment setting with no effect on the function",
               "nothing: multicloud deploys without CloudFormation or a deployment bucket")
CORS: Advice = ("review", "CORS is not carried over",
        "answer CORS in the handler (Access-Control-* headers and OPTIONS requests), or put a gateway in front; "
        "multicloud adds no CORS headers on any target")
AUTHORIZER: Advice = ("review", "the authorizer is not carried over",
              "check the token in the handler (every target passes the Authorization header through), or put "
              "an API gateway with that authorizer in front; multicloud's own `auth: key` is a shared key")
API_KEYS: Advice = ("review", "API Gateway API keys and usage plans are not carried over",
            "the route uses `auth: key`: callers send the function key multicloud gives each target (see "
            "docs/client.md) instead of x-api-key; usage plans have no equivalent")

PROVIDER: dict[str, Advice] = {
    "iam": IAM, "iamRoleStatements": IAM, "iamManagedPolicies": IAM, "role": IAM, "rolePermissionsBoundary": IAM,
    "vpc": VPC, "layers": LAYERS, "tracing": TRACING, "logs": LOGS, "logRetentionInDays": LOGS,
    "logDataProtectionPolicy": LOGS,
    "profile": DEPLOY_ONLY, "deploymentBucket": DEPLOY_ONLY, "deploymentMethod": DEPLOY_ONLY,
    "deploymentPrefix": DEPLOY_ONLY, "stackName": DEPLOY_ONLY, "stackParameters": DEPLOY_ONLY,
    "stackPolicy": DEPLOY_ONLY, "stackTags": DEPLOY_ONLY, "versionFunctions": DEPLOY_ONLY,
    "lambdaHashingVersion": DEPLOY_ONLY, "cfnRole": DEPLOY_ONLY, "disableRollback": DEPLOY_ONLY,
    "rollbackConfiguration": DEPLOY_ONLY, "notificationArns": DEPLOY_ONLY, "variableSyntax": DEPLOY_ONLY,
    "apiName": DEPLOY_ONLY, "websocketsApiName": DEPLOY_ONLY, "deploymentBucketName": DEPLOY_ONLY,
    "environment": ("info", "converted per function", ""),
    "kmsKeyArn": ("review", "environment encryption with your KMS key is not carried over",
                  "aws: set the function's KMS key after deploying; keep secrets under `secrets:` instead"),
    "apiGateway": ("review", "API Gateway (REST) settings are not carried over",
                   "binary media types, API keys, resource policies, request validation: handle them in the "
                   "handler or a gateway in front; the routes themselves are converted"),
    "httpApi": ("review", "HTTP API settings (CORS, authorizers, metrics, custom API id) are not carried over",
                "answer CORS and check tokens in the handler; the routes themselves are converted"),
    "endpointType": ("info", "the REST API endpoint type has no equivalent",
                     "nothing: each target exposes its own endpoint"),
    "apiKeys": API_KEYS, "usagePlan": API_KEYS, "resourcePolicy": API_KEYS,
    "alb": ("review", "ALB settings are not carried over", "put your load balancer in front of the target's "
                                                           "endpoint"),
    "eventBridge": ("info", "EventBridge settings have no equivalent", ""),
    "ecr": ("review", "container images are not deployed by multicloud",
            "functions built from these images are listed below; deploy them as code with a handler instead"),
    "runtimeManagement": DEPLOY_ONLY, "tags": ("info", "converted to targets.aws.tags", ""),
    "ephemeralStorageSize": ("review", "ephemeral storage size is not carried over",
                             "aws: set it after deploying; keep scratch files small (context.scratch_dir)"),
    "s3": ("review", "provider-level S3 bucket definitions are not carried over",
           "create the buckets yourself; storage triggers name them"),
    "timeout": ("info", "converted per function", ""), "memorySize": ("info", "converted per function", ""),
}

FUNCTION: dict[str, Advice] = {
    "layers": LAYERS, "vpc": VPC, "role": IAM, "iamRoleStatements": IAM, "iamRoleStatementsName": IAM,
    "iamRoleStatementsInherit": IAM, "iamManagedPolicies": IAM,
    "reservedConcurrency": CONCURRENCY, "provisionedConcurrency": CONCURRENCY, "concurrencyAutoscaling": CONCURRENCY,
    "destinations": ASYNC, "onError": ASYNC, "maximumRetryAttempts": ASYNC, "maximumEventAge": ASYNC,
    "tracing": TRACING, "logRetentionInDays": LOGS, "disableLogs": LOGS, "logs": LOGS,
    "alarms": ALARMS, "kmsKeyArn": PROVIDER["kmsKeyArn"], "ephemeralStorageSize": PROVIDER["ephemeralStorageSize"],
    "name": ("info", "the Lambda function name is not kept",
             "nothing: multicloud names the function <service>-<stage>-<function> on aws"),
    "tags": ("info", "function tags are not carried over", "set service-wide tags under targets.aws.tags"),
    "package": ("info", "packaging patterns are not carried over",
                "nothing for most services: multicloud ships the service folder (without tests/, build/, dist/ "
                "and dot-files) plus `include:`"),
    "snapStart": ("review", "SnapStart is not carried over", "aws: enable it after deploying if you rely on it"),
    "fileSystemConfig": ("review", "the EFS mount is not carried over",
                         "functions are stateless in multicloud; keep data in a managed store"),
    "condition": DEPLOY_ONLY, "dependsOn": DEPLOY_ONLY, "versionFunction": DEPLOY_ONLY,
    "warmup": ("info", "warm-up pings are not needed", "aws: use provisioned concurrency if cold starts matter"),
    "cors": CORS,
    "architecture": ("review", "a per-function architecture is not carried over",
                     "multicloud builds one package per service: set targets.aws.architecture"),
    "runtime": ("info", "per-function runtimes are not carried over", "multicloud uses one runtime per service"),
}

HTTP_OPTIONS: dict[str, Advice] = {
    "cors": CORS, "authorizer": AUTHORIZER,
    "request": ("review", "request parameters, schemas and templates are not carried over",
                "validate the request in the handler"),
    "response": ("review", "response templates and headers are not carried over", "set them in the handler"),
    "async": ("review", "asynchronous (202) integration is not carried over",
              "the route answers synchronously with the handler's result"),
    "caching": ("review", "API Gateway caching is not carried over", "put a cache in front if needed"),
    "operationId": ("info", "OpenAPI operation ids are not kept", ""),
    "connectionType": ("review", "VPC links are not carried over", ""),
    "connectionId": ("review", "VPC links are not carried over", ""),
    "private": API_KEYS,
}

PLUGINS: dict[str, Advice] = {
    "serverless-python-requirements": ("info", "dependencies carried over as `requirements:`",
                                       "nothing: each target installs them for its own platform"),
    "serverless-wsgi": ("info", "WSGI apps carried over as `style: wsgi`", ""),
    "serverless-offline": ("info", "replaced by the local target",
                           "run `multicloud deploy --target local` (or `multicloud dev`)"),
    "serverless-dotenv-plugin": ("info", ".env values were read while resolving ${env:...}", ""),
    "serverless-lift": ("info", "constructs converted where the importer knows them (see the notes on each)", ""),
    "serverless-prune-plugin": DEPLOY_ONLY, "serverless-plugin-aws-alerts": ALARMS,
    "serverless-domain-manager": ("review", "custom domains are not carried over",
                                  "point your domain at each target's endpoint (a CNAME or your gateway)"),
    "serverless-iam-roles-per-function": IAM,
    "serverless-pseudo-parameters": DEPLOY_ONLY,
    "serverless-plugin-tracing": TRACING,
    "serverless-plugin-warmup": FUNCTION["warmup"],
    "serverless-step-functions": ("review", "Step Functions state machines are not carried over",
                                  "keep them on AWS, or chain the functions through queues"),
    "serverless-appsync-plugin": ("review", "AppSync APIs are not carried over", "keep them on AWS"),
    "serverless-stack-output": DEPLOY_ONLY,
    "serverless-plugin-typescript": ("review", "a TypeScript build plugin: only Python functions convert", ""),
    "serverless-webpack": ("review", "a JavaScript build plugin: only Python functions convert", ""),
    "serverless-esbuild": ("review", "a JavaScript build plugin: only Python functions convert", ""),
}
PLUGIN_DEFAULT: Advice = ("review", "the plugin's deploy-time behaviour is not reproduced",
                          "check what it adds (see its settings under custom:) and recreate it per target")

EVENTS: dict[str, Advice] = {
    "sns": ("review", "SNS subscriptions have no portable trigger",
            "aws: subscribe an SQS queue to the topic and give the function a `queue` trigger on it (the "
            "message body is the SNS envelope); azure/gcp: publish to a Storage queue / Pub/Sub topic instead"),
    "eventBridge": ("review", "EventBridge rules have no portable trigger",
                    "route the events to an SQS queue (aws) and use a `queue` trigger, or call the function "
                    "over HTTP"),
    "cloudwatchEvent": ("review", "CloudWatch Events rules have no portable trigger",
                        "route the events to an SQS queue and use a `queue` trigger"),
    "cloudwatchLog": ("review", "log subscriptions have no portable trigger", "keep this function on AWS"),
    "websocket": ("review", "WebSocket routes have no portable trigger", "keep this function on AWS"),
    "alb": ("review", "ALB targets are not converted",
            "use an `http` trigger and put your load balancer in front of the target's endpoint"),
    "cognitoUserPool": ("review", "Cognito triggers have no portable equivalent", "keep this function on AWS"),
    "iot": ("review", "IoT rules have no portable trigger", "route the messages to a queue"),
    "iotFleetProvisioning": ("review", "IoT fleet provisioning hooks have no portable trigger", ""),
    "alexaSkill": ("review", "Alexa skills have no portable trigger", "keep this function on AWS"),
    "alexaSmartHome": ("review", "Alexa smart home skills have no portable trigger", "keep this function on AWS"),
    "msk": ("review", "Kafka (MSK) sources have no portable trigger", "consume the topic from a queue or stream"),
    "kafka": ("review", "Kafka sources have no portable trigger", "consume the topic from a queue or stream"),
    "activemq": ("review", "ActiveMQ sources have no portable trigger", "use a `queue` trigger on SQS"),
    "rabbitmq": ("review", "RabbitMQ sources have no portable trigger", "use a `queue` trigger on SQS"),
    "cloudFront": ("review", "Lambda@Edge has no portable equivalent", "keep this function on AWS"),
}
EVENT_DEFAULT: Advice = ("review", "this event type has no portable trigger", "keep this function on AWS")

TOP_LEVEL: dict[str, Advice] = {
    "frameworkVersion": DEPLOY_ONLY, "configValidationMode": DEPLOY_ONLY, "deprecationNotificationMode": DEPLOY_ONLY,
    "disabledDeprecations": DEPLOY_ONLY, "unresolvedVariablesNotificationMode": DEPLOY_ONLY,
    "variablesResolutionMode": DEPLOY_ONLY, "org": DEPLOY_ONLY, "app": DEPLOY_ONLY, "console": DEPLOY_ONLY,
    "dashboard": DEPLOY_ONLY, "tenant": DEPLOY_ONLY, "projectDir": DEPLOY_ONLY, "license": DEPLOY_ONLY,
    "useDotenv": ("info", ".env values were read while resolving ${env:...}", ""),
    "params": ("info", "used to resolve ${param:...}", ""),
    "custom": ("info", "used to resolve ${self:custom...} and plugin settings", ""),
    "package": FUNCTION["package"],
    "layers": ("review", "layer definitions are not carried over", LAYERS[2]),
    "outputs": ("info", "stack outputs have no equivalent", "read endpoints with `multicloud status`"),
    "stepFunctions": PLUGINS["serverless-step-functions"],
    "appSync": PLUGINS["serverless-appsync-plugin"],
    "stages": ("info", "per-stage parameters were read for the chosen stage", ""),
}

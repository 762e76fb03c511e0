// stack.js - imgpipe's seed design on AWS as one CDK stack:
//
//   client --PUT--> input bucket --ObjectCreated--> function --> output bucket
//                                                      |  \--> DynamoDB table
//                                                      \--(failed after retries)--> SQS "failed events"
//   client --HTTPS--> HTTP API (payload 2.0) /v1/{proxy+} --> API function (same zip)
//   client --PUT--> REST API /v1/objects/{id}/{name} --s3:PutObject--> input bucket
//                   (S3 service integration, no function in the request)
//
// Used by bin/app.js (cdk synth / deploy) and by the tests in test/, which
// build the stack in-process with a stand-in zip.  Everything here is
// declarative: no lookups, no custom resources, no credentials needed to
// synthesize.  docs/AWS.md ("Deploy the stack") explains each resource.
'use strict';

const path = require('node:path');
const cdk = require('aws-cdk-lib');
const s3 = require('aws-cdk-lib/aws-s3');
const lambda = require('aws-cdk-lib/aws-lambda');
const iam = require('aws-cdk-lib/aws-iam');
const logs = require('aws-cdk-lib/aws-logs');
const sqs = require('aws-cdk-lib/aws-sqs');
const dynamodb = require('aws-cdk-lib/aws-dynamodb');
const apigw = require('aws-cdk-lib/aws-apigateway');
const apigwv2 = require('aws-cdk-lib/aws-apigatewayv2');
const { HttpLambdaIntegration } = require('aws-cdk-lib/aws-apigatewayv2-integrations');
const { HttpIamAuthorizer } = require('aws-cdk-lib/aws-apigatewayv2-authorizers');
const { NagSuppressions } = require('cdk-nag');

// The table exactly as `imgpipe init` creates it (src/table/table_dynamodb.c,
// ddb_create_table): hash key id (S); indexes "newest" (gsi_pk, id) and
// "unfinished" (unf_pk, id), both projecting ALL.  test/table.test.js
// compares this with what the binary really sends.
const TABLE_KEY = 'id';
const TABLE_INDEXES = [
  { name: 'newest', hash: 'gsi_pk' },
  { name: 'unfinished', hash: 'unf_pk' },
];

// Defaults, chosen from the measured figures in docs/AWS.md: 0.9-3.5 s of
// function time per corpus photo on a loaded core, peak RSS 61-110 MB.
// Memory buys CPU (1769 MB = one vCPU), not room.
const DEFAULTS = {
  prefix: 'imgpipe',
  lambdaZip: path.join(__dirname, '..', '..', '..', 'dist', 'imgpipe-lambda-x86_64.zip'),
  memoryMb: 1769,
  // imgpipe's own limits.timeout is 30 s per image: Lambda's must be above
  // it so imgpipe fails the record cleanly before Lambda kills it.
  timeoutS: 60,
  reservedConcurrency: 10,
  apiMemoryMb: 512,
  apiReservedConcurrency: 10,
  logRetentionDays: 30,
  accessLogDays: 90,
  removal: 'retain', // or 'destroy'
  api: true,
  // Who authenticates the HTTP API: 'iam' (API Gateway, SigV4; imgpipe's
  // own keys off), 'keys' (imgpipe API keys in the table, checked by the
  // function: docs/SECURITY.md), or 'none' (public: asked for explicitly).
  // The objects API is always IAM.
  apiAuth: 'iam',
  objectsApi: true, // the REST API's direct upload path (S3 service integration)
  objectsRateLimit: 50, // its stage throttling: requests per second, steady
  objectsBurstLimit: 100, //   and burst
  variants: {}, // {"thumb": {"width": 160, "format": "webp"}}
  watermark: {}, // {"text": "© me", "opacity": 0.5}
  logLevel: 'info',
};

// IMGPIPE_<SECTION>_<KEY> names (src/core/config.c env_one): sections and
// keys in upper case; a variant is IMGPIPE_VARIANT_<NAME>_<KEY>.
function envName(...parts) {
  return ['IMGPIPE', ...parts].join('_').toUpperCase();
}

function settingsEnv(cfg) {
  const env = {};
  for (const [name, keys] of Object.entries(cfg.variants)) {
    if (!/^[A-Za-z0-9]+$/.test(name))
      throw new Error(`variant name ${name}: letters and digits only (it becomes part of an environment name)`);
    for (const [k, v] of Object.entries(keys)) env[envName('variant', name, k)] = String(v);
  }
  for (const [k, v] of Object.entries(cfg.watermark)) env[envName('watermark', k)] = String(v);
  return env;
}

// Feature flags the stack relies on, given to every App that builds it
// (bin/app.js, the tests): the access log bucket is written under a bucket
// policy for logging.s3.amazonaws.com, not through the legacy
// LogDeliveryWrite ACL (which needs ObjectWriter ownership, i.e. ACLs on).
const FLAGS = {
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
};

// The only wildcard resources cdk-nag may let through: the objects of the
// input and output buckets (`arn:<AWS::Partition>:s3:::PREFIX-input-…/*`).
const OBJECT_ARNS = { regex: '/^Resource::arn:<AWS::Partition>:s3:::[^/*]+-(input|output)-[^/*]+\\/\\*$/' };

class ImgpipeStack extends cdk.Stack {
  constructor(scope, id, props = {}) {
    super(scope, id, props);
    const cfg = { ...DEFAULTS, ...(props.config || {}) };
    const removalPolicy = cfg.removal === 'destroy' ? cdk.RemovalPolicy.DESTROY : cdk.RemovalPolicy.RETAIN;
    const { account, region, partition } = this;

    // Bucket names are fixed (prefix-role-account-region) so the
    // notification's Lambda permission can name the input bucket's ARN
    // without referring to the bucket resource: no dependency cycle, hence
    // no custom resource (CDK's BucketNotificationsHandler, a Lambda whose
    // role may s3:PutBucketNotification on every bucket).
    const bucketName = (role) => `${cfg.prefix}-${role}-${account}-${region}`;
    const inputName = bucketName('input');
    const outputName = bucketName('output');
    // The roles name the buckets by these ARNs too: a reference to the
    // bucket resource would make a cycle (input bucket -> permission ->
    // function -> role -> input bucket).
    const inputArn = `arn:${partition}:s3:::${inputName}`;
    const outputArn = `arn:${partition}:s3:::${outputName}`;

    // ---- buckets -------------------------------------------------------
    const secure = {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy,
    };
    // The access log bucket has no access log of its own (it would log
    // its own log writes); cdk-nag's S1 knows a log target for one.
    const accessLogs = new s3.Bucket(this, 'AccessLogs', {
      ...secure,
      bucketName: bucketName('logs'),
      lifecycleRules: [{ expiration: cdk.Duration.days(cfg.accessLogDays) }],
    });
    const input = new s3.Bucket(this, 'Input', {
      ...secure,
      bucketName: inputName,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'input/',
    });
    const output = new s3.Bucket(this, 'Output', {
      ...secure,
      bucketName: outputName,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'output/',
    });

    // ---- table ---------------------------------------------------------
    const table = new dynamodb.Table(this, 'Table', {
      tableName: cfg.prefix,
      partitionKey: { name: TABLE_KEY, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy,
    });
    for (const ix of TABLE_INDEXES)
      table.addGlobalSecondaryIndex({
        indexName: ix.name,
        partitionKey: { name: ix.hash, type: dynamodb.AttributeType.STRING },
        sortKey: { name: TABLE_KEY, type: dynamodb.AttributeType.STRING },
        projectionType: dynamodb.ProjectionType.ALL,
      });
    // create=0: the stack owns the table; the function only checks it
    // (DescribeTable) at start and never needs dynamodb:CreateTable.
    const tableUrl = `dynamodb://?table=${table.tableName}&region=${region}&create=0`;
    const storageEnv = {
      IMGPIPE_STORAGE_OBJSTORE: `s3://?region=${region}`,
      IMGPIPE_STORAGE_TABLE: tableUrl,
      IMGPIPE_STORAGE_INPUT_BUCKET: inputName,
      IMGPIPE_STORAGE_OUTPUT_BUCKET: outputName,
      IMGPIPE_SERVER_LOG_LEVEL: cfg.logLevel,
    };

    // ---- failed events -------------------------------------------------
    const failed = new sqs.Queue(this, 'FailedEvents', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: cdk.Duration.days(14),
      removalPolicy,
    });
    NagSuppressions.addResourceSuppressions(failed, [
      { id: 'AwsSolutions-SQS3', reason: 'This queue is itself the dead-letter destination (the function\'s on-failure destination); nothing consumes it automatically.' },
    ]);

    // ---- the function --------------------------------------------------
    const code = lambda.Code.fromAsset(cfg.lambdaZip);
    const fnLogs = new logs.LogGroup(this, 'FunctionLogs', {
      retention: cfg.logRetentionDays,
      removalPolicy: cdk.RemovalPolicy.DESTROY,
    });
    const fnRole = new iam.Role(this, 'FunctionRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'imgpipe function: read the input bucket, write the output bucket and the table, log',
      inlinePolicies: {
        imgpipe: new iam.PolicyDocument({
          statements: [
            // GetObject is also what HeadObject needs.
            new iam.PolicyStatement({ sid: 'ReadInput', actions: ['s3:GetObject'], resources: [`${inputArn}/*`] }),
            // DeleteObject: a record deleted while its variants were being
            // made gets them taken back (function.c delete_variants).
            new iam.PolicyStatement({ sid: 'WriteOutput', actions: ['s3:PutObject', 's3:DeleteObject'], resources: [`${outputArn}/*`] }),
            // HeadBucket of both buckets at start (objstore_open); it also
            // makes a missing key a 404 rather than a 403.
            new iam.PolicyStatement({ sid: 'HeadBuckets', actions: ['s3:ListBucket'], resources: [inputArn, outputArn] }),
            new iam.PolicyStatement({
              sid: 'Records',
              actions: ['dynamodb:DescribeTable', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
              resources: [table.tableArn],
            }),
            new iam.PolicyStatement({ sid: 'Logs', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [fnLogs.logGroupArn] }),
            new iam.PolicyStatement({ sid: 'FailedEvents', actions: ['sqs:SendMessage'], resources: [failed.queueArn] }),
          ],
        }),
      },
    });
    NagSuppressions.addResourceSuppressions(fnRole, [
      {
        id: 'AwsSolutions-IAM5',
        reason: 'Object ARNs only: the function reads any uploaded key of the input bucket and writes variants under any key of the output bucket (keys are made per upload).',
        appliesTo: [OBJECT_ARNS],
      },
    ]);
    const fn = new lambda.Function(this, 'Function', {
      description: 'imgpipe function: S3 ObjectCreated -> variants + record',
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: lambda.Architecture.X86_64,
      handler: 'bootstrap',
      code,
      memorySize: cfg.memoryMb,
      timeout: cdk.Duration.seconds(cfg.timeoutS),
      reservedConcurrentExecutions: cfg.reservedConcurrency > 0 ? cfg.reservedConcurrency : undefined,
      role: fnRole.withoutPolicyUpdates(),
      logGroup: fnLogs,
      environment: { ...storageEnv, ...settingsEnv(cfg) },
    });
    // S3 invokes asynchronously: Lambda retries twice, then the event
    // goes to the failed-events queue (the record already says failed).
    new lambda.CfnEventInvokeConfig(this, 'FunctionAsync', {
      functionName: fn.functionName,
      qualifier: '$LATEST',
      maximumRetryAttempts: 2,
      maximumEventAgeInSeconds: 6 * 3600,
      destinationConfig: { onFailure: { destination: failed.queueArn } },
    });
    const invoke = new lambda.CfnPermission(this, 'InputInvokesFunction', {
      action: 'lambda:InvokeFunction',
      functionName: fn.functionArn,
      principal: 's3.amazonaws.com',
      sourceArn: inputArn,
      sourceAccount: account,
    });
    const cfnInput = input.node.defaultChild;
    cfnInput.notificationConfiguration = {
      lambdaConfigurations: [{ event: 's3:ObjectCreated:*', function: fn.functionArn }],
    };
    cfnInput.addDependency(invoke);

    // ---- the HTTP API --------------------------------------------------
    if (cfg.api) this.addApi(cfg, { code, inputArn, outputArn, table, storageEnv, removalPolicy });
    if (cfg.objectsApi) this.addObjectsApi(cfg, { inputName, inputArn, removalPolicy });

    new cdk.CfnOutput(this, 'InputBucket', { value: input.bucketName });
    new cdk.CfnOutput(this, 'OutputBucket', { value: output.bucketName });
    new cdk.CfnOutput(this, 'TableName', { value: table.tableName });
    new cdk.CfnOutput(this, 'FunctionName', { value: fn.functionName });
    new cdk.CfnOutput(this, 'FunctionLogGroup', { value: fnLogs.logGroupName });
    new cdk.CfnOutput(this, 'FailedEventsQueue', { value: failed.queueUrl });
  }

  // A second function from the same zip serves the API, with its own role
  // and concurrency: the processing role stays narrow (it never lists,
  // deletes originals or records), and a burst of API calls cannot take
  // the processing function's concurrency.
  addApi(cfg, { code, inputArn, outputArn, table, storageEnv, removalPolicy }) {
    const apiLogs = new logs.LogGroup(this, 'ApiFunctionLogs', {
      retention: cfg.logRetentionDays,
      removalPolicy: cdk.RemovalPolicy.DESTROY,
    });
    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', {
      retention: cfg.logRetentionDays,
      removalPolicy,
    });
    const objects = (arn) => `${arn}/*`;
    const role = new iam.Role(this, 'ApiFunctionRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'imgpipe API: uploads into the input bucket, reads and deletes images and records, logs',
      inlinePolicies: {
        imgpipe: new iam.PolicyDocument({
          statements: [
            // GET original / variants.
            new iam.PolicyStatement({ sid: 'ReadObjects', actions: ['s3:GetObject'], resources: [objects(inputArn), objects(outputArn)] }),
            // Uploads (and the presigned PUT URLs of POST /v1/uploads, which
            // carry this role's permission); a failed multipart upload is aborted.
            new iam.PolicyStatement({ sid: 'Upload', actions: ['s3:PutObject', 's3:AbortMultipartUpload'], resources: [objects(inputArn)] }),
            // DELETE /v1/images/{id}: original and variants.
            new iam.PolicyStatement({ sid: 'DeleteObjects', actions: ['s3:DeleteObject'], resources: [objects(inputArn), objects(outputArn)] }),
            // HeadBucket at start; listing a record's variants on delete.
            new iam.PolicyStatement({ sid: 'ListBuckets', actions: ['s3:ListBucket'], resources: [inputArn, outputArn] }),
            new iam.PolicyStatement({
              sid: 'Records',
              actions: ['dynamodb:DescribeTable', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'],
              resources: [table.tableArn],
            }),
            // GET /v1/images: a Query on index "newest".
            new iam.PolicyStatement({ sid: 'List', actions: ['dynamodb:Query'], resources: [`${table.tableArn}/index/newest`] }),
            new iam.PolicyStatement({ sid: 'Logs', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [apiLogs.logGroupArn] }),
          ],
        }),
      },
    });
    NagSuppressions.addResourceSuppressions(role, [
      {
        id: 'AwsSolutions-IAM5',
        reason: 'Object ARNs only: the API reads, uploads and deletes images under keys it makes per upload.',
        appliesTo: [OBJECT_ARNS],
      },
    ]);
    const fn = new lambda.Function(this, 'ApiFunction', {
      description: 'imgpipe API: API Gateway (payload 2.0) -> the /v1 handlers',
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: lambda.Architecture.X86_64,
      handler: 'bootstrap',
      code,
      memorySize: cfg.apiMemoryMb,
      timeout: cdk.Duration.seconds(29), // API Gateway's own integration limit is 30 s
      reservedConcurrentExecutions: cfg.apiReservedConcurrency > 0 ? cfg.apiReservedConcurrency : undefined,
      role: role.withoutPolicyUpdates(),
      logGroup: apiLogs,
      // events=store: the input bucket's notification announces uploads,
      // the API does not queue them itself.
      environment: {
        ...storageEnv,
        IMGPIPE_STORAGE_EVENTS: 'store',
        // One authenticator per request: API Gateway's IAM, or the keys.
        IMGPIPE_SERVER_AUTH: cfg.apiAuth === 'keys' ? 'on' : 'off',
        ...settingsEnv(cfg),
      },
    });
    const api = new apigwv2.HttpApi(this, 'Api', {
      description: 'imgpipe /v1 API',
      createDefaultStage: false,
    });
    const stage = new apigwv2.HttpStage(this, 'ApiStage', { httpApi: api, autoDeploy: true });
    stage.node.defaultChild.accessLogSettings = {
      destinationArn: accessLogs.logGroupArn,
      format: JSON.stringify({
        requestId: '$context.requestId', ip: '$context.identity.sourceIp', method: '$context.httpMethod',
        path: '$context.path', status: '$context.status', latency: '$context.responseLatency',
        integrationError: '$context.integrationErrorMessage',
      }),
    };
    api.addRoutes({
      path: '/v1/{proxy+}',
      methods: [apigwv2.HttpMethod.ANY],
      integration: new HttpLambdaIntegration('ApiIntegration', fn, {
        payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
      }),
      authorizer: cfg.apiAuth === 'iam' ? new HttpIamAuthorizer() : new apigwv2.HttpNoneAuthorizer(),
    });
    if (cfg.apiAuth === 'keys')
      NagSuppressions.addResourceSuppressions(api, [
        { id: 'AwsSolutions-APIG4', reason: 'apiAuth=keys: every request is authorized by the function itself against imgpipe API keys (hashed in the table; scopes per route, docs/SECURITY.md); only /v1/* is routed, and it has no anonymous route.' },
      ], true);
    if (cfg.apiAuth === 'none')
      NagSuppressions.addResourceSuppressions(api, [
        { id: 'AwsSolutions-APIG4', reason: 'apiAuth=none was asked for explicitly (context); the default is IAM authorization.' },
      ], true);
    new cdk.CfnOutput(this, 'ApiUrl', { value: stage.url });
    new cdk.CfnOutput(this, 'ApiFunctionLogGroup', { value: apiLogs.logGroupName });
  }

  // The design's own upload path: API Gateway puts the request body
  // straight into the input bucket (an S3 service integration), and the
  // bucket's ObjectCreated event makes the record as for any object.  No
  // function is in the request, so the gateway's role is the only
  // credential involved: s3:PutObject on the input bucket's objects, nothing
  // else.  The key is {id}/{name}: the function takes a record's id from
  // the key's first segment when it has the id's shape (function_key_id),
  // so a client that sends a fresh ULID there knows its image's id; any
  // other first segment gets an id derived from (bucket, key, version),
  // which the client cannot know in advance (docs/AWS.md).
  addObjectsApi(cfg, { inputName, inputArn, removalPolicy }) {
    const accessLogs = new logs.LogGroup(this, 'ObjectsApiAccessLogs', {
      retention: cfg.logRetentionDays,
      removalPolicy,
    });
    const role = new iam.Role(this, 'ObjectsApiRole', {
      assumedBy: new iam.ServicePrincipal('apigateway.amazonaws.com'),
      description: 'imgpipe objects API: API Gateway puts uploads into the input bucket, nothing else',
      inlinePolicies: {
        imgpipe: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({ sid: 'PutInput', actions: ['s3:PutObject'], resources: [`${inputArn}/*`] }),
          ],
        }),
      },
    });
    NagSuppressions.addResourceSuppressions(role, [
      {
        id: 'AwsSolutions-IAM5',
        reason: 'Object ARNs of the input bucket only: the gateway puts each upload under the key the client names ({id}/{name}).',
        appliesTo: [OBJECT_ARNS],
      },
    ]);
    const api = new apigw.RestApi(this, 'ObjectsApi', {
      description: 'imgpipe direct uploads: PUT /v1/objects/{id}/{name} -> s3:PutObject on the input bucket',
      endpointTypes: [apigw.EndpointType.REGIONAL],
      // Bodies of these types pass through unchanged (not as UTF-8 text).
      binaryMediaTypes: ['image/*', 'application/octet-stream'],
      // No account-wide CloudWatch role (AWS::ApiGateway::Account with a
      // managed policy): the stage writes an access log, not execution logs.
      cloudWatchRole: false,
      deployOptions: {
        stageName: 'upload',
        accessLogDestination: new apigw.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigw.AccessLogFormat.custom(JSON.stringify({
          requestId: '$context.requestId', ip: '$context.identity.sourceIp', caller: '$context.identity.caller',
          method: '$context.httpMethod', path: '$context.path', status: '$context.status',
          bytes: '$context.responseLength', latency: '$context.responseLatency',
          integrationStatus: '$context.integration.status', integrationError: '$context.integrationErrorMessage',
        })),
        throttlingRateLimit: cfg.objectsRateLimit,
        throttlingBurstLimit: cfg.objectsBurstLimit,
        // X-Ray off: the only call behind the gateway is the S3 PUT, whose
        // latency the access log already has (integration status and
        // latency); tracing would add cost and no information.
        tracingEnabled: false,
      },
    });
    NagSuppressions.addResourceSuppressions(api.deploymentStage, [
      {
        id: 'AwsSolutions-APIG3',
        reason: 'No WAF web ACL: every request must be SigV4-signed by an IAM principal allowed execute-api:Invoke, and the stage is throttled; a web ACL would add a monthly charge and stop no caller that IAM lets in.',
      },
      {
        id: 'AwsSolutions-APIG6',
        reason: 'Execution logging needs the account-wide API Gateway CloudWatch role (AWS::ApiGateway::Account), which this stack does not take over; the stage writes a JSON access log per request, with the integration status and error.',
      },
    ]);
    // Both path parameters are required and Content-Type must be sent: S3
    // stores it as the object's type, which the function records.  The body
    // is not validated (see the APIG2 suppression).
    const validator = api.addRequestValidator('ObjectsValidator', {
      requestValidatorName: 'parameters',
      validateRequestParameters: true,
      validateRequestBody: false,
    });
    NagSuppressions.addResourceSuppressions(api, [
      {
        id: 'AwsSolutions-APIG2',
        reason: 'Request parameters are validated (id, name and Content-Type required); the body is image bytes, which no JSON schema model describes, and the function checks the image itself (magic bytes, pixel limits).',
      },
    ]);
    // Answers 202 with where to find the image: the key's first segment is
    // the id only if it has the id's shape (26 Crockford base32 letters,
    // the first 0-7; util_id_valid); otherwise the id is not knowable here.
    const accepted = [
      "#set($id = $input.params('id'))",
      "#if($id.matches('[0-7][0-9A-HJKMNP-TV-Z]{25}'))",
      '{"id":"$id","status":"pending","links":{"self":"/v1/images/$id"}}',
      '#else',
      '{"id":null,"status":"stored","message":"the first path segment is not an image id: the record gets an id derived from the object; find it in GET /v1/images"}',
      '#end',
    ].join('\n');
    const error = (code, message) => ({ 'application/json': JSON.stringify({ error: { code, message } }) });
    const integration = new apigw.AwsIntegration({
      service: 's3',
      integrationHttpMethod: 'PUT',
      path: `${inputName}/{id}/{name}`,
      options: {
        credentialsRole: role.withoutPolicyUpdates(),
        requestParameters: {
          'integration.request.path.id': 'method.request.path.id',
          'integration.request.path.name': 'method.request.path.name',
          'integration.request.header.Content-Type': 'method.request.header.Content-Type',
        },
        integrationResponses: [
          {
            statusCode: '202',
            responseParameters: {
              'method.response.header.ETag': 'integration.response.header.ETag',
              'method.response.header.x-amz-version-id': 'integration.response.header.x-amz-version-id',
            },
            responseTemplates: { 'application/json': accepted },
          },
          { statusCode: '400', selectionPattern: '4\\d{2}', responseTemplates: error('bad_request', 'the object store refused the object') },
          { statusCode: '502', selectionPattern: '5\\d{2}', responseTemplates: error('bad_gateway', 'the object store failed; try again') },
        ],
      },
    });
    const objects = api.root.addResource('v1').addResource('objects').addResource('{id}').addResource('{name}');
    const put = objects.addMethod('PUT', integration, {
      authorizationType: apigw.AuthorizationType.IAM,
      requestValidator: validator,
      requestParameters: {
        'method.request.path.id': true,
        'method.request.path.name': true,
        'method.request.header.Content-Type': true,
      },
      methodResponses: [
        {
          statusCode: '202',
          responseParameters: { 'method.response.header.ETag': true, 'method.response.header.x-amz-version-id': true },
          responseModels: { 'application/json': apigw.Model.EMPTY_MODEL },
        },
        { statusCode: '400', responseModels: { 'application/json': apigw.Model.ERROR_MODEL } },
        { statusCode: '502', responseModels: { 'application/json': apigw.Model.ERROR_MODEL } },
      ],
    });
    NagSuppressions.addResourceSuppressions(put, [
      {
        id: 'AwsSolutions-COG4',
        reason: 'IAM authorization (SigV4, execute-api:Invoke) on the method, as on the HTTP API; the stack has no Cognito user pool and its callers are IAM principals.',
      },
    ]);
    new cdk.CfnOutput(this, 'ObjectsApiUrl', { value: api.urlForPath('/v1/objects') });
  }
}

module.exports = { ImgpipeStack, FLAGS, DEFAULTS, TABLE_KEY, TABLE_INDEXES };

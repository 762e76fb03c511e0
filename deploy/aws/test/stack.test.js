// stack.test.js - pins the security-relevant properties of every resource
// and every IAM statement exactly: widening a role, opening a bucket or
// adding a resource fails here.  Run by check.sh (node --test).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { build, only, flat, statements, ACCOUNT, REGION } = require('./helpers');

const { template } = build();
const T = template.toJSON();
const S = `${ACCOUNT}-${REGION}`;
const INPUT = `arn:<AWS::Partition>:s3:::imgpipe-input-${S}`;
const OUTPUT = `arn:<AWS::Partition>:s3:::imgpipe-output-${S}`;

function resources(type) {
  return Object.entries(T.Resources).filter(([, r]) => r.Type === type);
}

test('the stack holds exactly these resources', () => {
  const count = {};
  for (const r of Object.values(T.Resources)) count[r.Type] = (count[r.Type] || 0) + 1;
  assert.deepEqual(count, {
    'AWS::S3::Bucket': 3, 'AWS::S3::BucketPolicy': 3,
    'AWS::DynamoDB::Table': 1,
    'AWS::SQS::Queue': 1, 'AWS::SQS::QueuePolicy': 1,
    'AWS::Logs::LogGroup': 4,
    'AWS::IAM::Role': 3,
    'AWS::Lambda::Function': 2, 'AWS::Lambda::EventInvokeConfig': 1, 'AWS::Lambda::Permission': 2,
    'AWS::ApiGatewayV2::Api': 1, 'AWS::ApiGatewayV2::Integration': 1,
    'AWS::ApiGatewayV2::Route': 1, 'AWS::ApiGatewayV2::Stage': 1,
    'AWS::ApiGateway::RestApi': 1, 'AWS::ApiGateway::Resource': 4, 'AWS::ApiGateway::Method': 1,
    'AWS::ApiGateway::RequestValidator': 1, 'AWS::ApiGateway::Deployment': 1, 'AWS::ApiGateway::Stage': 1,
  });
});

test('every bucket: public access blocked, SSE, owner-enforced, TLS only', () => {
  for (const [id, b] of resources('AWS::S3::Bucket')) {
    const p = b.Properties;
    assert.deepEqual(p.PublicAccessBlockConfiguration, {
      BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true,
    }, id);
    assert.deepEqual(p.BucketEncryption, {
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
    }, id);
    assert.deepEqual(p.OwnershipControls, { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] }, id);
    assert.equal(p.AccessControl, undefined, id);
    assert.equal(b.DeletionPolicy, 'Retain', id);
    const policy = only(template, 'AWS::S3::BucketPolicy', { Bucket: { Ref: id } });
    const deny = flat(policy.Properties.PolicyDocument.Statement[0]);
    assert.deepEqual(deny, {
      Action: 's3:*', Effect: 'Deny', Principal: { AWS: '*' },
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      Resource: [`<${id.replace(/[0-9A-F]{8}$/, '')}.Arn>`, `<${id.replace(/[0-9A-F]{8}$/, '')}.Arn>/*`],
    });
  }
});

test('input and output buckets log to the access log bucket, which only the log service writes', () => {
  const names = {};
  for (const [, b] of resources('AWS::S3::Bucket')) names[b.Properties.BucketName] = flat(b.Properties.LoggingConfiguration);
  assert.deepEqual(names, {
    [`imgpipe-input-${S}`]: { DestinationBucketName: '<AccessLogs>', LogFilePrefix: 'input/' },
    [`imgpipe-output-${S}`]: { DestinationBucketName: '<AccessLogs>', LogFilePrefix: 'output/' },
    [`imgpipe-logs-${S}`]: undefined,
  });
  const policy = flat(only(template, 'AWS::S3::BucketPolicy', { Bucket: { Ref: 'AccessLogs8B620ECA' } }).Properties.PolicyDocument);
  assert.deepEqual(policy.Statement.slice(1), ['input', 'Output'].map((b) => ({
    Action: 's3:PutObject', Effect: 'Allow', Principal: { Service: 'logging.s3.amazonaws.com' },
    Condition: { ArnLike: { 'aws:SourceArn': `<${b === 'input' ? 'Input' : 'Output'}.Arn>` }, StringEquals: { 'aws:SourceAccount': ACCOUNT } },
    Resource: `<AccessLogs.Arn>/${b.toLowerCase()}/*`,
  })));
});

test('ObjectCreated on the input bucket invokes the function, and only from that bucket and account', () => {
  const input = only(template, 'AWS::S3::Bucket', { BucketName: `imgpipe-input-${S}` });
  assert.deepEqual(flat(input.Properties.NotificationConfiguration), {
    LambdaConfigurations: [{ Event: 's3:ObjectCreated:*', Function: '<Function.Arn>' }],
  });
  const perm = only(template, 'AWS::Lambda::Permission', { Principal: 's3.amazonaws.com' });
  assert.deepEqual(flat(perm.Properties), {
    Action: 'lambda:InvokeFunction', FunctionName: '<Function.Arn>', Principal: 's3.amazonaws.com',
    SourceAccount: ACCOUNT, SourceArn: INPUT,
  });
  assert.deepEqual(input.DependsOn, [perm.id]);
  const out = only(template, 'AWS::S3::Bucket', { BucketName: `imgpipe-output-${S}` });
  assert.equal(out.Properties.NotificationConfiguration, undefined, 'the output bucket must not trigger the function');
});

test('the function: provided.al2023 x86_64, 1769 MB, 60 s, 10 reserved, its role and log group', () => {
  const fn = T.Resources.Function76856677;
  const p = flat(fn.Properties);
  delete p.Code; delete p.Environment; delete p.Description;
  assert.deepEqual(p, {
    Architectures: ['x86_64'], Handler: 'bootstrap', Runtime: 'provided.al2023',
    MemorySize: '1769', Timeout: '60', ReservedConcurrentExecutions: '10',
    Role: '<FunctionRole.Arn>', LoggingConfig: { LogGroup: '<FunctionLogs>' },
  });
  assert.deepEqual(flat(only(template, 'AWS::Lambda::EventInvokeConfig').Properties), {
    FunctionName: '<Function>', Qualifier: '$LATEST', MaximumRetryAttempts: '2', MaximumEventAgeInSeconds: '21600',
    DestinationConfig: { OnFailure: { Destination: '<FailedEvents.Arn>' } },
  });
});

test('the failed-events queue: SQS-managed SSE, TLS only, 14 days', () => {
  const q = only(template, 'AWS::SQS::Queue');
  assert.deepEqual(q.Properties, { MessageRetentionPeriod: 1209600, SqsManagedSseEnabled: true });
  const pol = flat(only(template, 'AWS::SQS::QueuePolicy').Properties.PolicyDocument.Statement);
  assert.deepEqual(pol, [{
    Action: 'sqs:*', Effect: 'Deny', Principal: { AWS: '*' },
    Condition: { Bool: { 'aws:SecureTransport': 'false' } }, Resource: '<FailedEvents.Arn>',
  }]);
});

test('the table: what `imgpipe init` creates, on demand, with point-in-time recovery', () => {
  const t = only(template, 'AWS::DynamoDB::Table');
  assert.deepEqual(t.Properties, {
    TableName: 'imgpipe',
    BillingMode: 'PAY_PER_REQUEST',
    PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
    AttributeDefinitions: [
      { AttributeName: 'id', AttributeType: 'S' },
      { AttributeName: 'gsi_pk', AttributeType: 'S' },
      { AttributeName: 'unf_pk', AttributeType: 'S' },
    ],
    GlobalSecondaryIndexes: [
      { IndexName: 'newest', KeySchema: [{ AttributeName: 'gsi_pk', KeyType: 'HASH' }, { AttributeName: 'id', KeyType: 'RANGE' }], Projection: { ProjectionType: 'ALL' } },
      { IndexName: 'unfinished', KeySchema: [{ AttributeName: 'unf_pk', KeyType: 'HASH' }, { AttributeName: 'id', KeyType: 'RANGE' }], Projection: { ProjectionType: 'ALL' } },
    ],
  });
  assert.equal(t.DeletionPolicy, 'Retain');
});

const trust = (service) => [{ Action: ['sts:AssumeRole'], Effect: 'Allow', Principal: { Service: service }, Resource: [undefined] }];
const TRUST = {
  FunctionRole111A5701: trust('lambda.amazonaws.com'),
  ApiFunctionRoleF04A0202: trust('lambda.amazonaws.com'),
  ObjectsApiRoleDB309877: trust('apigateway.amazonaws.com'),
};

function roleStatements(logicalId) {
  const role = T.Resources[logicalId];
  assert.ok(TRUST[logicalId], `${logicalId}: a role the tests do not know`);
  assert.deepEqual(statements(role.Properties.AssumeRolePolicyDocument), TRUST[logicalId]);
  assert.equal(role.Properties.ManagedPolicyArns, undefined, 'no managed policies');
  assert.equal(role.Properties.Policies.length, 1);
  return statements(role.Properties.Policies[0].PolicyDocument);
}

test('IAM: no policy outside the three roles, no wildcard action, no wildcard resource but bucket objects', () => {
  assert.equal(resources('AWS::IAM::Policy').length, 0);
  assert.equal(resources('AWS::IAM::ManagedPolicy').length, 0);
  for (const [id] of resources('AWS::IAM::Role'))
    for (const s of roleStatements(id)) {
      assert.equal(s.Effect, 'Allow');
      for (const a of s.Action) assert.ok(!a.includes('*'), `${id}: action ${a}`);
      for (const r of s.Resource)
        assert.ok(!r.includes('*') || r === `${INPUT}/*` || r === `${OUTPUT}/*`, `${id}: resource ${r}`);
    }
});

test('IAM: the function role, statement by statement', () => {
  assert.deepEqual(roleStatements('FunctionRole111A5701'), [
    { Sid: 'ReadInput', Effect: 'Allow', Action: ['s3:GetObject'], Resource: [`${INPUT}/*`] },
    { Sid: 'WriteOutput', Effect: 'Allow', Action: ['s3:DeleteObject', 's3:PutObject'], Resource: [`${OUTPUT}/*`] },
    { Sid: 'HeadBuckets', Effect: 'Allow', Action: ['s3:ListBucket'], Resource: [INPUT, OUTPUT] },
    { Sid: 'Records', Effect: 'Allow', Action: ['dynamodb:DescribeTable', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], Resource: ['<Table.Arn>'] },
    { Sid: 'Logs', Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: ['<FunctionLogs.Arn>'] },
    { Sid: 'FailedEvents', Effect: 'Allow', Action: ['sqs:SendMessage'], Resource: ['<FailedEvents.Arn>'] },
  ]);
});

test('IAM: the API function role, statement by statement', () => {
  assert.deepEqual(roleStatements('ApiFunctionRoleF04A0202'), [
    { Sid: 'ReadObjects', Effect: 'Allow', Action: ['s3:GetObject'], Resource: [`${INPUT}/*`, `${OUTPUT}/*`] },
    { Sid: 'Upload', Effect: 'Allow', Action: ['s3:AbortMultipartUpload', 's3:PutObject'], Resource: [`${INPUT}/*`] },
    { Sid: 'DeleteObjects', Effect: 'Allow', Action: ['s3:DeleteObject'], Resource: [`${INPUT}/*`, `${OUTPUT}/*`] },
    { Sid: 'ListBuckets', Effect: 'Allow', Action: ['s3:ListBucket'], Resource: [INPUT, OUTPUT] },
    { Sid: 'Records', Effect: 'Allow', Action: ['dynamodb:DeleteItem', 'dynamodb:DescribeTable', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], Resource: ['<Table.Arn>'] },
    { Sid: 'List', Effect: 'Allow', Action: ['dynamodb:Query'], Resource: ['<Table.Arn>/index/newest'] },
    { Sid: 'Logs', Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: ['<ApiFunctionLogs.Arn>'] },
  ]);
});

test('IAM: the objects API role, its single statement', () => {
  assert.deepEqual(roleStatements('ObjectsApiRoleDB309877'), [
    { Sid: 'PutInput', Effect: 'Allow', Action: ['s3:PutObject'], Resource: [`${INPUT}/*`] },
  ]);
});

test('the objects API: REST, regional, PUT /v1/objects/{id}/{name} IAM-authorized, parameters validated', () => {
  const api = only(template, 'AWS::ApiGateway::RestApi');
  assert.deepEqual(api.Properties.EndpointConfiguration, { Types: ['REGIONAL'] });
  assert.deepEqual(api.Properties.BinaryMediaTypes, ['image/*', 'application/octet-stream']);
  const paths = {};
  for (const [id, r] of resources('AWS::ApiGateway::Resource')) paths[id] = r.Properties;
  const path = (id) => {
    const p = paths[id];
    return p ? `${path(p.ParentId.Ref)}/${p.PathPart}` : '';
  };
  const m = only(template, 'AWS::ApiGateway::Method');
  assert.equal(path(m.Properties.ResourceId.Ref), '/v1/objects/{id}/{name}');
  assert.equal(m.Properties.HttpMethod, 'PUT');
  assert.equal(m.Properties.AuthorizationType, 'AWS_IAM');
  assert.deepEqual(m.Properties.RequestParameters, {
    'method.request.path.id': true, 'method.request.path.name': true, 'method.request.header.Content-Type': true,
  });
  const v = only(template, 'AWS::ApiGateway::RequestValidator');
  assert.equal(m.Properties.RequestValidatorId.Ref, v.id);
  assert.equal(v.Properties.ValidateRequestParameters, true);
});

test('the objects API: S3 PutObject on {input}/{id}/{name} with its own role, Content-Type passed, 202 with the id', () => {
  const i = only(template, 'AWS::ApiGateway::Method').Properties.Integration;
  assert.deepEqual(flat({ ...i, IntegrationResponses: undefined }), {
    Type: 'AWS', IntegrationHttpMethod: 'PUT',
    Uri: `arn:<AWS::Partition>:apigateway:${REGION}:s3:path/imgpipe-input-${S}/{id}/{name}`,
    Credentials: '<ObjectsApiRole.Arn>',
    RequestParameters: {
      'integration.request.path.id': 'method.request.path.id',
      'integration.request.path.name': 'method.request.path.name',
      'integration.request.header.Content-Type': 'method.request.header.Content-Type',
    },
    IntegrationResponses: undefined,
  });
  assert.equal(i.RequestTemplates, undefined, 'the body passes through unchanged');
  const [ok, client, server] = i.IntegrationResponses;
  assert.equal(ok.StatusCode, '202');
  assert.equal(ok.SelectionPattern, undefined, 'the default answer: S3 said 2xx');
  assert.deepEqual(ok.ResponseParameters, {
    'method.response.header.ETag': 'integration.response.header.ETag',
    'method.response.header.x-amz-version-id': 'integration.response.header.x-amz-version-id',
  });
  // The id is the key's first segment only when it has the id's shape
  // (util_id_valid: 26 Crockford base32 letters, the first 0-7).
  const body = ok.ResponseTemplates['application/json'];
  assert.match(body, /\.matches\('\[0-7\]\[0-9A-HJKMNP-TV-Z\]\{25\}'\)/);
  assert.match(body, /"links":\{"self":"\/v1\/images\/\$id"\}/);
  assert.deepEqual([client.StatusCode, client.SelectionPattern, server.StatusCode, server.SelectionPattern],
    ['400', '4\\d{2}', '502', '5\\d{2}']);
});

test('the objects API stage: throttled, access logged, no execution logs or data trace', () => {
  const st = flat(only(template, 'AWS::ApiGateway::Stage').Properties);
  assert.equal(st.StageName, 'upload');
  assert.equal(st.AccessLogSetting.DestinationArn, '<ObjectsApiAccessLogs.Arn>');
  assert.deepEqual(Object.keys(JSON.parse(st.AccessLogSetting.Format)).sort(),
    ['bytes', 'caller', 'integrationError', 'integrationStatus', 'ip', 'latency', 'method', 'path', 'requestId', 'status']);
  assert.deepEqual(st.MethodSettings, [{
    HttpMethod: '*', ResourcePath: '/*', DataTraceEnabled: 'false', ThrottlingRateLimit: '50', ThrottlingBurstLimit: '100',
  }]);
  assert.equal(resources('AWS::ApiGateway::Account').length, 0, 'no account-wide CloudWatch role');
});

test('objectsApi=false: no REST API and no gateway role', () => {
  const t = build({ objectsApi: false }).template.toJSON();
  const types = Object.values(t.Resources).map((r) => r.Type);
  assert.ok(!types.some((x) => x.startsWith('AWS::ApiGateway::')));
  assert.equal(types.filter((x) => x === 'AWS::IAM::Role').length, 2);
});

test('the HTTP API: ANY /v1/{proxy+}, IAM-authorized, payload 2.0 proxy to the API function, access logged', () => {
  assert.equal(only(template, 'AWS::ApiGatewayV2::Api').Properties.ProtocolType, 'HTTP');
  const route = flat(only(template, 'AWS::ApiGatewayV2::Route').Properties);
  assert.equal(route.RouteKey, 'ANY /v1/{proxy+}');
  assert.equal(route.AuthorizationType, 'AWS_IAM');
  assert.deepEqual(flat(only(template, 'AWS::ApiGatewayV2::Integration').Properties), {
    ApiId: '<Api>', IntegrationType: 'AWS_PROXY', IntegrationUri: '<ApiFunction.Arn>', PayloadFormatVersion: '2.0',
  });
  const perm = only(template, 'AWS::Lambda::Permission', { Principal: 'apigateway.amazonaws.com' });
  assert.equal(flat(perm.Properties.SourceArn), `arn:<AWS::Partition>:execute-api:${REGION}:${ACCOUNT}:<Api>/*/*/v1/{proxy+}`);
  assert.equal(flat(only(template, 'AWS::ApiGatewayV2::Stage').Properties.AccessLogSettings.DestinationArn), '<ApiAccessLogs.Arn>');
  const fn = flat(T.Resources.ApiFunctionCE271BD4.Properties);
  assert.equal(fn.Role, '<ApiFunctionRole.Arn>');
  assert.equal(fn.ReservedConcurrentExecutions, '10');
});

test('one authenticator per request: IAM turns the keys off, apiAuth=keys turns them on', () => {
  const envOf = (t) => flat(Object.values(t.toJSON().Resources).find(
    (r) => r.Type === 'AWS::Lambda::Function' && /API/.test(r.Properties.Description)).Properties.Environment.Variables);
  const routeOf = (t) => flat(only(t, 'AWS::ApiGatewayV2::Route').Properties);
  assert.equal(envOf(template).IMGPIPE_SERVER_AUTH, 'off');
  const keys = build({ apiAuth: 'keys' }).template;
  assert.equal(envOf(keys).IMGPIPE_SERVER_AUTH, 'on');
  assert.equal(routeOf(keys).AuthorizationType, 'NONE');
  // the S3-triggered function serves no API: no auth setting at all
  const fn = Object.values(T.Resources).find(
    (r) => r.Type === 'AWS::Lambda::Function' && /ObjectCreated/.test(r.Properties.Description));
  assert.equal(fn.Properties.Environment.Variables.IMGPIPE_SERVER_AUTH, undefined);
});

test('apiAuth=keys passes cdk-nag with its one reviewed suppression', () => {
  const { Annotations, Match } = require('aws-cdk-lib/assertions');
  const { stack } = build({ apiAuth: 'keys' }, { nag: true });
  const a = Annotations.fromStack(stack);
  assert.equal(a.findError('*', Match.stringLikeRegexp('AwsSolutions-.*')).length, 0);
  assert.equal(a.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*')).length, 0);
});

test('the log groups keep 30 days', () => {
  for (const [id, g] of resources('AWS::Logs::LogGroup')) assert.equal(g.Properties.RetentionInDays, 30, id);
});

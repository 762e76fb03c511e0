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
    'AWS::Logs::LogGroup': 3,
    'AWS::IAM::Role': 2,
    'AWS::Lambda::Function': 2, 'AWS::Lambda::EventInvokeConfig': 1, 'AWS::Lambda::Permission': 2,
    'AWS::ApiGatewayV2::Api': 1, 'AWS::ApiGatewayV2::Integration': 1,
    'AWS::ApiGatewayV2::Route': 1, 'AWS::ApiGatewayV2::Stage': 1,
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

const LAMBDA_TRUST = [{ Action: ['sts:AssumeRole'], Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Resource: [undefined] }];

function roleStatements(logicalId) {
  const role = T.Resources[logicalId];
  assert.deepEqual(statements(role.Properties.AssumeRolePolicyDocument), LAMBDA_TRUST);
  assert.equal(role.Properties.ManagedPolicyArns, undefined, 'no managed policies');
  assert.equal(role.Properties.Policies.length, 1);
  return statements(role.Properties.Policies[0].PolicyDocument);
}

test('IAM: no policy outside the two roles, no wildcard action, no wildcard resource but bucket objects', () => {
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

test('the log groups keep 30 days', () => {
  for (const [id, g] of resources('AWS::Logs::LogGroup')) assert.equal(g.Properties.RetentionInDays, 30, id);
});

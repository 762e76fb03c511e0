// nag.test.js - cdk-nag's AwsSolutions pack over the stack: no error and
// no warning left unsuppressed, and the suppressions are exactly the
// reviewed ones (each with its reason in lib/stack.js).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { Annotations, Match } = require('aws-cdk-lib/assertions');
const { build } = require('./helpers');

test('AwsSolutions: zero unsuppressed errors and warnings', () => {
  const { stack } = build({}, { nag: true });
  const a = Annotations.fromStack(stack);
  const show = (l) => l.map((m) => `${m.id}: ${m.entry.data}`).join('\n');
  const errors = a.findError('*', Match.stringLikeRegexp('AwsSolutions-.*'));
  const warnings = a.findWarning('*', Match.stringLikeRegexp('AwsSolutions-.*'));
  assert.equal(errors.length, 0, show(errors));
  assert.equal(warnings.length, 0, show(warnings));
});

test('AwsSolutions: the suppressions are exactly the reviewed ones, each with a reason', () => {
  const { template } = build();
  const found = [];
  for (const [id, r] of Object.entries(template.toJSON().Resources))
    for (const s of (r.Metadata && r.Metadata.cdk_nag && r.Metadata.cdk_nag.rules_to_suppress) || []) {
      assert.ok(s.reason && s.reason.length > 40, `${id} ${s.id}: a reason, please`);
      found.push(`${id.replace(/[0-9A-F]{8}$/, '')} ${s.id}`);
    }
  assert.deepEqual(found.sort(), [
    'ApiFunctionRole AwsSolutions-IAM5', // object ARNs of the two buckets only
    'FailedEvents AwsSolutions-SQS3', // it is the dead-letter queue
    'FunctionRole AwsSolutions-IAM5', // object ARNs of the two buckets only
    'ObjectsApi AwsSolutions-APIG2', // parameters validated; the body is image bytes
    'ObjectsApiDeploymentStageupload AwsSolutions-APIG3', // no WAF: IAM-signed callers, throttled stage
    'ObjectsApiDeploymentStageupload AwsSolutions-APIG6', // access log; execution logs need the account-wide role
    'ObjectsApiRole AwsSolutions-IAM5', // object ARNs of the input bucket only
    'ObjectsApiv1objectsidnamePUT AwsSolutions-COG4', // IAM authorization, no Cognito
  ]);
});

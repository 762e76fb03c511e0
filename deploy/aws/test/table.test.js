// table.test.js - the stack's table is the table `imgpipe init` creates:
// the binary (IMGPIPE_BIN) creates one in dynalite (the servers of
// scripts/servers.sh, named by IMGPIPE_SERVERS_ENV), Debian's aws CLI
// describes it, and key schema, attributes, indexes, projections and
// billing mode must equal the template's.  Skipped without the servers.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { build } = require('./helpers');

const BIN = process.env.IMGPIPE_BIN;
const AWS = '/usr/bin/aws';

function serversEnv() {
  // the same default as scripts/servers.sh and tests/aws/with-servers.sh
  const f = process.env.IMGPIPE_SERVERS_ENV || '/tmp/imgpipe-servers.env';
  if (!f || !fs.existsSync(f)) return null;
  const out = {};
  for (const line of fs.readFileSync(f, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)='(.*)'$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out.IMGPIPE_SERVERS_DYNALITE_PORT ? out : null;
}
const servers = serversEnv();
const missing = (!BIN && 'IMGPIPE_BIN is not set') || (!servers && 'no dynalite (IMGPIPE_SERVERS_ENV)') ||
  (!fs.existsSync(AWS) && `no ${AWS}`);

const byName = (a, b) => (a.AttributeName || a.IndexName).localeCompare(b.AttributeName || b.IndexName);
function shape(t) {
  return {
    KeySchema: t.KeySchema,
    AttributeDefinitions: [...t.AttributeDefinitions].sort(byName),
    GlobalSecondaryIndexes: t.GlobalSecondaryIndexes
      .map((g) => ({ IndexName: g.IndexName, KeySchema: g.KeySchema, Projection: g.Projection }))
      .sort(byName),
    BillingMode: t.BillingMode || (t.BillingModeSummary && t.BillingModeSummary.BillingMode),
  };
}

test('the stack\'s table equals what `imgpipe init` creates', () => {
  // a check that cannot run has shown nothing: it fails, never skips
  if (missing) assert.fail(missing);
  const port = servers.IMGPIPE_SERVERS_DYNALITE_PORT;
  const endpoint = `http://127.0.0.1:${port}`;
  const name = `cdk-check-${process.pid}-${Date.now()}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'imgpipe-cdk-'));
  const awsEnv = {
    PATH: '/usr/bin:/bin', HOME: dir, AWS_ACCESS_KEY_ID: servers.IMGPIPE_TEST_DYNAMO_ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY: servers.IMGPIPE_TEST_DYNAMO_SECRET_KEY, AWS_DEFAULT_REGION: 'us-east-1',
  };
  try {
    const init = spawnSync(BIN, ['init'], {
      encoding: 'utf8',
      env: {
        PATH: '/usr/bin:/bin',
        IMGPIPE_SERVER_DATA_DIR: dir,
        IMGPIPE_STORAGE_TABLE: `dynamodb+${endpoint}/?region=us-east-1&table=${name}`,
        IMGPIPE_AWS_ACCESS_KEY_ID: servers.IMGPIPE_TEST_DYNAMO_ACCESS_KEY,
        IMGPIPE_AWS_SECRET_ACCESS_KEY: servers.IMGPIPE_TEST_DYNAMO_SECRET_KEY,
      },
    });
    assert.equal(init.status, 0, init.stderr);
    const d = spawnSync(AWS, ['dynamodb', 'describe-table', '--endpoint-url', endpoint, '--table-name', name, '--output', 'json'],
      { encoding: 'utf8', env: awsEnv });
    assert.equal(d.status, 0, d.stderr);
    const created = JSON.parse(d.stdout).Table;
    const { template } = build();
    const stackTable = Object.values(template.toJSON().Resources).find((r) => r.Type === 'AWS::DynamoDB::Table').Properties;
    assert.deepEqual(shape(stackTable), shape(created));
  } finally {
    spawnSync(AWS, ['dynamodb', 'delete-table', '--endpoint-url', endpoint, '--table-name', name], { env: awsEnv });
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

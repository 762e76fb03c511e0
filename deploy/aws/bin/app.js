#!/usr/bin/env node
// app.js - the CDK app: reads the context (cdk.json, `-c key=value`),
// builds ImgpipeStack and runs cdk-nag's AwsSolutions checks over it.
// Run by the `cdk` CLI (cdk.json "app"); see docs/AWS.md.
'use strict';

const cdk = require('aws-cdk-lib');
const { AwsSolutionsChecks } = require('cdk-nag');
const { ImgpipeStack, DEFAULTS, FLAGS } = require('../lib/stack');

const app = new cdk.App({ analyticsReporting: false, context: FLAGS });
const ctx = (k) => app.node.tryGetContext(k);

// Context values from the command line are strings: parse the numbers,
// booleans and JSON objects among them by the type of the default.
function parsed(k) {
  const v = ctx(k);
  if (v === undefined) return undefined;
  const d = DEFAULTS[k];
  if (typeof v !== 'string' || typeof d === 'string') return v;
  if (typeof d === 'number') {
    if (!/^[0-9]+$/.test(v)) throw new Error(`context ${k}: not a number: ${v}`);
    return Number(v);
  }
  if (typeof d === 'boolean') return v === 'true';
  return JSON.parse(v);
}
const config = {};
for (const k of Object.keys(DEFAULTS)) {
  const v = parsed(k);
  if (v !== undefined) config[k] = v;
}

// account/region: context (the offline check uses 123456789012/us-east-1),
// else the CLI's CDK_DEFAULT_* from the credentials at deploy time.
const env = {
  account: ctx('account') || process.env.CDK_DEFAULT_ACCOUNT,
  region: ctx('region') || process.env.CDK_DEFAULT_REGION,
};
new ImgpipeStack(app, ctx('stackName') || 'Imgpipe', { env, config });
cdk.Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
app.synth();

// helpers.js - builds the stack in-process for the tests, as bin/app.js
// does, with the stand-in zip (test/fixtures/stand-in.zip: synth only
// needs a file) and a fixed account and region, so no credentials and
// no dist/ zip are needed.
'use strict';

const path = require('node:path');
const cdk = require('aws-cdk-lib');
const { Template } = require('aws-cdk-lib/assertions');
const { AwsSolutionsChecks } = require('cdk-nag');
const { ImgpipeStack, FLAGS } = require('../lib/stack');

const ACCOUNT = '123456789012';
const REGION = 'us-east-1';
const STAND_IN_ZIP = path.join(__dirname, 'fixtures', 'stand-in.zip');

function build(config = {}, { nag = false } = {}) {
  const app = new cdk.App({ analyticsReporting: false, context: FLAGS });
  const stack = new ImgpipeStack(app, 'Imgpipe', {
    env: { account: ACCOUNT, region: REGION },
    config: { lambdaZip: STAND_IN_ZIP, ...config },
  });
  if (nag) cdk.Aspects.of(app).add(new AwsSolutionsChecks({ reports: false }));
  const template = Template.fromStack(stack);
  return { app, stack, template };
}

// The one resource of a type (and properties); fails unless exactly one.
function only(template, type, props) {
  const found = template.findResources(type, props ? { Properties: props } : undefined);
  const ids = Object.keys(found);
  if (ids.length !== 1) throw new Error(`${type}: ${ids.length} resources match, want 1: ${ids.join(' ')}`);
  return { id: ids[0], ...found[ids[0]] };
}

module.exports = { build, only, ACCOUNT, REGION };

// CloudFormation values as readable strings: Ref X -> <X>, GetAtt X.A ->
// <X.A>, Fn::Join concatenated; logical ids lose CDK's 8-hex suffix
// (Input49F21B70 -> Input), so expectations read as names.
function flat(v) {
  const id = (s) => s.replace(/[0-9A-F]{8}$/, '');
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return v.map(flat);
  if (v && v.Ref) return `<${id(v.Ref)}>`;
  if (v && v['Fn::GetAtt']) return `<${id(v['Fn::GetAtt'][0])}.${v['Fn::GetAtt'][1]}>`;
  if (v && v['Fn::Join']) return v['Fn::Join'][1].map(flat).join(v['Fn::Join'][0]);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, flat(x)]));
  return v;
}

// A policy document's statements, each with Action and Resource as
// sorted lists, so the tests compare them exactly.
function statements(doc) {
  const list = (x) => (Array.isArray(x) ? x : [x]).slice().sort();
  return flat(doc.Statement).map((s) => ({ ...s, Action: list(s.Action), Resource: list(s.Resource) }));
}

module.exports.flat = flat;
module.exports.statements = statements;

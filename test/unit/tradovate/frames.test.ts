import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  CLIENT_HEARTBEAT,
  decodeFrame,
  encodeAuthorize,
  encodeRequest,
} from '../../../src/brokers/tradovate/ws.js';

const frames = JSON.parse(
  readFileSync(new URL('../../fixtures/tradovate/ws-frames.json', import.meta.url), 'utf8'),
) as Record<string, string>;

describe('Tradovate WebSocket frame codec', () => {
  it('decodes the open and heartbeat frames', () => {
    expect(decodeFrame(frames.open!)).toEqual({ type: 'open' });
    expect(decodeFrame(frames.heartbeat!)).toEqual({ type: 'heartbeat' });
  });

  it('decodes one array frame carrying a response and an event', () => {
    const frame = decodeFrame(frames.responses!);
    expect(frame.type).toBe('messages');
    if (frame.type !== 'messages') return;
    expect(frame.messages).toHaveLength(2);
    expect(frame.messages[0]).toMatchObject({ type: 'response', id: 1, status: 200 });
    expect(frame.messages[1]).toMatchObject({ type: 'event', event: 'props' });
  });

  it('decodes the authorize answers, a 429 without a body and a penalty inside a 200', () => {
    expect(decodeFrame(frames.authorized!)).toEqual({
      type: 'messages',
      messages: [{ type: 'response', id: 0, status: 200, body: undefined }],
    });
    expect(decodeFrame(frames.unauthorized!)).toEqual({
      type: 'messages',
      messages: [{ type: 'response', id: 0, status: 401, body: 'Invalid access token' }],
    });
    expect(decodeFrame(frames.rateLimited!)).toEqual({
      type: 'messages',
      messages: [{ type: 'response', id: 7, status: 429, body: undefined }],
    });
    expect(decodeFrame(frames.penaltyInResponse!)).toEqual({
      type: 'messages',
      messages: [{ type: 'response', id: 2, status: 200, body: { 'p-ticket': 'abc', 'p-time': 3 } }],
    });
  });

  it('decodes the close frame with its code and reason', () => {
    expect(decodeFrame(frames.close!)).toEqual({ type: 'close', code: 3000, reason: 'Go away!' });
  });

  it('reports garbage as an invalid frame instead of throwing', () => {
    expect(decodeFrame('a[not json')).toMatchObject({ type: 'invalid' });
    expect(decodeFrame('x')).toMatchObject({ type: 'invalid' });
    expect(decodeFrame('a{"i":1}')).toMatchObject({ type: 'invalid' });
  });

  it('encodes a request with all four fields, empty ones as empty lines', () => {
    expect(encodeRequest(4, { endpoint: 'executionReport/list' })).toBe('executionReport/list\n4\n\n');
    expect(encodeRequest(8, { endpoint: 'order/deps', query: { masterid: 700001 } })).toBe(
      'order/deps\n8\nmasterid=700001\n',
    );
    expect(
      encodeRequest(33, {
        endpoint: 'contract/rollcontract',
        body: { name: 'YMZ6', forward: true, ifExpired: true },
      }),
    ).toBe('contract/rollcontract\n33\n\n{"name":"YMZ6","forward":true,"ifExpired":true}');
  });

  it('encodes authorize with the raw token as the body, and the heartbeat as []', () => {
    expect(encodeAuthorize(0, 'eyJ.token')).toBe('authorize\n0\n\neyJ.token');
    expect(CLIENT_HEARTBEAT).toBe('[]');
  });
});

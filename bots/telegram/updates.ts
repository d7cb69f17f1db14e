/**
 * Reading Telegram updates: who sent a message (the Principal), whether it was forwarded and from
 * where, and the keys that make a redelivery or a second forward of the same alert harmless.
 */
import { createHash } from 'node:crypto';
import type { Principal } from '../../src/index.js';

interface ChatRef {
  readonly id: number;
  readonly type?: string;
  readonly title?: string;
  readonly username?: string;
  readonly first_name?: string;
  readonly last_name?: string;
}

interface UserRef {
  readonly id: number;
  readonly is_bot?: boolean;
  readonly first_name?: string;
  readonly last_name?: string;
  readonly username?: string;
}

/**
 * The fields of a message the transport reads. Covers Bot API 7 (`forward_origin`) and the older
 * `forward_from*` fields, which some self-hosted servers still send.
 */
export interface IncomingMessage {
  readonly message_id: number;
  readonly date: number;
  readonly chat: ChatRef;
  readonly from?: UserRef;
  readonly sender_chat?: ChatRef;
  readonly text?: string;
  readonly caption?: string;
  readonly is_automatic_forward?: boolean;
  readonly forward_origin?: {
    readonly type: 'user' | 'hidden_user' | 'chat' | 'channel';
    readonly date: number;
    readonly sender_user?: UserRef;
    readonly sender_user_name?: string;
    readonly sender_chat?: ChatRef;
    readonly chat?: ChatRef;
    readonly message_id?: number;
  };
  readonly forward_from?: UserRef;
  readonly forward_from_chat?: ChatRef;
  readonly forward_from_message_id?: number;
  readonly forward_sender_name?: string;
  readonly forward_date?: number;
}

/** The text of a message or the caption of a media message. */
export function textOf(message: IncomingMessage): string | null {
  const text = message.text ?? message.caption;
  return text && text.trim() !== '' ? text : null;
}

/** Whether a message is a forward (of any origin, in the current or the older fields). */
export function isForwarded(message: IncomingMessage): boolean {
  return Boolean(
    message.forward_origin ??
      message.forward_from ??
      message.forward_from_chat ??
      message.forward_sender_name ??
      message.forward_date,
  );
}

/**
 * Who sent a message. A message sent on behalf of a chat (a channel post, an anonymous group
 * admin) comes from that chat, so a channel can be registered as a provider as `telegram:<id>`.
 */
export function principalOf(message: IncomingMessage): Principal | null {
  const chatId = String(message.chat.id);
  const chatTitle = message.chat.title;
  const base = { platform: 'telegram' as const, chatId, ...(chatTitle ? { chatTitle } : {}) };
  if (message.sender_chat) {
    const sender = message.sender_chat;
    return {
      ...base,
      userId: String(sender.id),
      displayName: sender.title ?? sender.username ?? String(sender.id),
    };
  }
  if (!message.from) return null;
  return { ...base, userId: String(message.from.id), displayName: displayName(message.from) };
}

/** How a user is named in replies and the audit log; never used to authorize. */
export function displayName(user: UserRef): string {
  if (user.username) return `@${user.username}`;
  const name = [user.first_name, user.last_name].filter(Boolean).join(' ');
  return name || String(user.id);
}

/**
 * Where a forwarded alert first came from, the same for every forward of it: the channel post it
 * was (chat and message id) when Telegram says so, otherwise its sender, its original date and a
 * hash of its text. The new message's own id differs on every forward, so it cannot be the key.
 */
export function forwardOrigin(message: IncomingMessage, text: string): string {
  const origin = message.forward_origin;
  const postChat = origin?.type === 'channel' ? origin.chat : message.forward_from_chat;
  const postId = origin?.type === 'channel' ? origin.message_id : message.forward_from_message_id;
  if (postChat && postId !== undefined) return `post:${postChat.id}:${postId}`;
  const hiddenName = origin?.sender_user_name ?? message.forward_sender_name;
  const sender = origin?.sender_user
    ? `user:${origin.sender_user.id}`
    : origin?.sender_chat
      ? `chat:${origin.sender_chat.id}`
      : message.forward_from
        ? `user:${message.forward_from.id}`
        : message.forward_from_chat
          ? `chat:${message.forward_from_chat.id}`
          : hiddenName
            ? `hidden:${hash(hiddenName)}`
            : 'unknown';
  const date = origin?.date ?? message.forward_date ?? message.date;
  return `${sender}:${date}:${hash(text.trim())}`;
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('base64url').slice(0, 22);
}

/** A set that forgets its oldest entries past `max`. */
export class BoundedSet<T> {
  private readonly items = new Set<T>();
  constructor(private readonly max: number) {}

  /** Adds the item; false when it was already there. */
  add(item: T): boolean {
    if (this.items.has(item)) return false;
    this.items.add(item);
    if (this.items.size > this.max) this.items.delete(this.items.values().next().value as T);
    return true;
  }
}

/** A map that forgets its least recently set entries past `max`. */
export class BoundedMap<K, V> {
  private readonly items = new Map<K, V>();
  constructor(private readonly max: number) {}

  get(key: K): V | undefined {
    return this.items.get(key);
  }

  set(key: K, value: V): void {
    this.items.delete(key);
    this.items.set(key, value);
    if (this.items.size > this.max) this.items.delete(this.items.keys().next().value as K);
  }

  delete(key: K): boolean {
    return this.items.delete(key);
  }

  values(): IterableIterator<V> {
    return this.items.values();
  }
}

'use client';

import { useEffect, useState, type ReactNode } from 'react';
import { useFormStatus } from 'react-dom';
import { usePathname } from 'next/navigation';
import type { FormState } from '../lib/forms';

type ToastMsg = { id: number; kind: 'error' | 'ok'; text: string };

/** Shows a toast from anywhere in the client tree. */
export function toast(kind: 'error' | 'ok', text: string): void {
  window.dispatchEvent(new CustomEvent('slipstream-toast', { detail: { kind, text } }));
}

export function Toaster() {
  const [items, setItems] = useState<ToastMsg[]>([]);
  const path = usePathname();
  // A message about the page just left would only confuse on the next one.
  useEffect(() => setItems([]), [path]);
  useEffect(() => {
    let next = 1;
    const onToast = (e: Event) => {
      const { kind, text } = (e as CustomEvent<{ kind: 'error' | 'ok'; text: string }>).detail;
      const id = next++;
      // A success means the earlier error was dealt with: keep it from lingering over the result.
      setItems((cur) => [
        ...cur.filter((t) => kind === 'error' || t.kind !== 'error').slice(-2),
        { id, kind, text },
      ]);
      setTimeout(() => setItems((cur) => cur.filter((t) => t.id !== id)), kind === 'error' ? 8000 : 4000);
    };
    window.addEventListener('slipstream-toast', onToast);
    return () => window.removeEventListener('slipstream-toast', onToast);
  }, []);
  return (
    <div className="toasts" aria-live="polite">
      {items.map((t) => (
        <div key={t.id} className={`toast ${t.kind}`} role={t.kind === 'error' ? 'alert' : 'status'}>
          <span>{t.text}</span>
          <button
            type="button"
            aria-label="Dismiss"
            onClick={() => setItems((c) => c.filter((x) => x.id !== t.id))}
          >
            ×
          </button>
        </div>
      ))}
    </div>
  );
}

export function SubmitButton({ children, className = 'btn' }: { children: ReactNode; className?: string }) {
  const { pending } = useFormStatus();
  return (
    <button type="submit" className={className} disabled={pending} aria-busy={pending}>
      {pending ? 'Working…' : children}
    </button>
  );
}

/** Inline result of a form, plus a toast for errors so they are seen even when scrolled away. */
/** Toasts each action result once (every result carries a fresh `at`). */
export function useResultToast(state: FormState): void {
  useEffect(() => {
    if (state.status === 'error' && state.message) toast('error', state.message);
    if (state.status === 'ok' && state.message) toast('ok', state.message);
  }, [state.at, state.status, state.message]);
}

export function FormResult({ state, conflictHint }: { state: FormState; conflictHint?: ReactNode }) {
  useResultToast(state);
  if (state.status === 'error')
    return (
      <div
        className="notice error full"
        role="alert"
        data-testid={state.conflict ? 'conflict' : 'form-error'}
      >
        {state.message}
        {state.conflict && conflictHint ? <div style={{ marginTop: 6 }}>{conflictHint}</div> : null}
      </div>
    );
  if (state.status === 'ok' && state.message && !state.secret)
    return (
      <div className="notice ok full" role="status">
        {state.message}
      </div>
    );
  return null;
}

interface FieldProps {
  name: string;
  label: string;
  state: FormState;
  hint?: ReactNode;
  /** Field path in API errors when it differs from the input name. */
  path?: string;
  className?: string;
  children?: ReactNode;
  type?: string;
  defaultValue?: string | number;
  required?: boolean;
  placeholder?: string;
  autoComplete?: string;
  inputMode?: 'numeric' | 'text' | 'email';
}

/** A labelled input that shows the API's message for its field. */
export function Field({ name, label, state, hint, path, className, children, ...input }: FieldProps) {
  const err = state.fields?.[path ?? name];
  const id = `f-${name}`;
  return (
    <div className={`field ${className ?? ''}`}>
      <label htmlFor={id}>{label}</label>
      {children ?? (
        <input
          id={id}
          name={name}
          aria-invalid={err ? true : undefined}
          aria-describedby={err ? `${id}-err` : undefined}
          {...input}
          defaultValue={state.values?.[name] ?? input.defaultValue}
        />
      )}
      {hint && !err ? <span className="hint">{hint}</span> : null}
      {err ? (
        <span className="error" id={`${id}-err`} data-testid={`error-${name}`}>
          {err}
        </span>
      ) : null}
    </div>
  );
}

export function SelectField({
  name,
  label,
  state,
  options,
  defaultValue,
  path,
  hint,
}: {
  name: string;
  label: string;
  state: FormState;
  options: { value: string; label: string }[];
  defaultValue?: string;
  path?: string;
  hint?: ReactNode;
}) {
  const err = state.fields?.[path ?? name];
  return (
    <Field name={name} label={label} state={state} path={path} hint={hint}>
      <select
        id={`f-${name}`}
        name={name}
        defaultValue={state.values?.[name] ?? defaultValue}
        aria-invalid={err ? true : undefined}
      >
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </Field>
  );
}

export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      className="btn small secondary"
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(text);
          setDone(true);
          setTimeout(() => setDone(false), 1500);
        } catch {
          toast('error', 'Copy failed: select the text and copy it by hand');
        }
      }}
    >
      {done ? 'Copied' : label}
    </button>
  );
}

/** Shows a secret once, with a copy button, and says it will not be shown again. */
export function SecretOnce({ title, secret, extra }: { title: string; secret: string; extra?: string }) {
  return (
    <div className="notice ok full" role="status" data-testid="secret-once">
      <strong>{title}</strong> Copy it now: it will not be shown again.
      <div className="secret" style={{ marginTop: 8 }}>
        <code data-testid="secret-value">{secret}</code>
        <CopyButton text={secret} />
      </div>
      {extra ? (
        <div className="secret" style={{ marginTop: 8 }}>
          <code data-testid="secret-extra">{extra}</code>
          <CopyButton text={extra} />
        </div>
      ) : null}
    </div>
  );
}

import Link from 'next/link';
import { LoginForm } from '../../../components/forms/AuthForms';

export const metadata = { title: 'Log in · Slipstream' };

export default async function LoginPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | undefined>>;
}) {
  const q = await searchParams;
  return (
    <div className="card">
      <h1>Log in</h1>
      {q.expired ? (
        <p className="notice warn" role="status">
          Your session ended. Log in again.
        </p>
      ) : null}
      <LoginForm next={q.next} />
      <p className="muted">
        No account? <Link href="/signup">Sign up</Link>
      </p>
    </div>
  );
}

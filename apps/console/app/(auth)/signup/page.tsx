import Link from 'next/link';
import { SignupForm } from '../../../components/forms/AuthForms';

export const metadata = { title: 'Sign up · Slipstream' };

export default function SignupPage() {
  return (
    <div className="card">
      <h1>Create your account</h1>
      <p className="muted">A new organisation (tenant) with you as its owner.</p>
      <SignupForm />
      <p className="muted">
        Already have an account? <Link href="/login">Log in</Link>
      </p>
    </div>
  );
}

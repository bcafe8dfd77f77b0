import Link from 'next/link';

export default function NotFound() {
  return (
    <div className="card empty">
      <strong>Not found</strong>
      It may have been deleted, or it belongs to another tenant. <Link href="/">Back to the overview</Link>
    </div>
  );
}

export default function Loading() {
  return (
    <div aria-busy="true" aria-label="Loading">
      <div className="skeleton" style={{ width: 220, height: 24 }} />
      <div className="card">
        <div className="skeleton" />
        <div className="skeleton" style={{ width: '80%' }} />
        <div className="skeleton" style={{ width: '60%' }} />
      </div>
    </div>
  );
}

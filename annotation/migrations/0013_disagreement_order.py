"""`queue_order: disagreement`: Item.disputed (an earlier round was disputed) and its queue index.

Every item past its first round got there through annotation.queue.item_next_round, which only
runs when a round's work was sent back, so those items start out disputed."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('annotation', '0012_item_search_responses_and_external_id_prefix'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='project',
            name='project_queue_order_valid',
        ),
        migrations.AddField(
            model_name='item',
            name='disputed',
            field=models.BooleanField(db_default=False, default=False),
        ),
        migrations.RunSQL(
            "UPDATE annotation_item SET disputed = true WHERE round > 1",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AlterField(
            model_name='project',
            name='queue_order',
            field=models.CharField(choices=[('priority', 'Priority'), ('uncertainty', 'Uncertainty first'), ('disagreement', 'Disputed first')], default='priority', max_length=16),
        ),
        migrations.AddIndex(
            model_name='item',
            index=models.Index(models.F('project'), models.OrderBy(models.F('submitted_count'), descending=True), models.OrderBy(models.F('disputed'), descending=True), models.OrderBy(models.F('priority'), descending=True), models.F('id'), condition=models.Q(('is_gold', False), ('status', 'open')), name='item_queue_disagreement'),
        ),
        migrations.AddConstraint(
            model_name='project',
            constraint=models.CheckConstraint(condition=models.Q(('queue_order__in', ['priority', 'uncertainty', 'disagreement'])), name='project_queue_order_valid'),
        ),
    ]
